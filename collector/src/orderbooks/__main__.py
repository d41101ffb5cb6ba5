import sys

from orderbooks.cli import main

sys.exit(main())
