import sys

from mtbert.cli import main

sys.exit(main())
