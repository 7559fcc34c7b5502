import sys

from proteindsm.cli import main

sys.exit(main())
