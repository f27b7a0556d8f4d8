"""`python -m lading` runs the command line."""

from lading.cli.main import main

raise SystemExit(main())
