# auth.py compiled into auth_c (pure-Python mode). No types here: compiling the module
# is what pays, its per-request methods running as C rather than bytecode.
