import sys

from bench.policies.cost import main

sys.exit(main())
