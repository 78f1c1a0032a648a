"""``python -m ltobisect.cli``, as ``python -m ltobisect``."""
import sys

from ltobisect.cli import main

sys.exit(main())
