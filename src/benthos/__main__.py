import sys

from benthos.cli.main import main

sys.exit(main())
