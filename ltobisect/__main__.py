import sys

from ltobisect.cli import main

sys.exit(main())
