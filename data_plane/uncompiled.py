"""What `import cython` gives a twin module running as plain Python without Cython.

Twin modules (data_plane/extensions.py) test `cython.compiled` to pick the spelling
of a few byte-level primitives; Cython is only needed to build the compiled twin.
"""

compiled = False
