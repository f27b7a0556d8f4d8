"""`python -m lading` runs the command line."""

from lading.cli.main import main_exit

main_exit()
