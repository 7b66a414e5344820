"""Entry script for ``python -m scoop ... scoop_main.py VERB ...``: ``python -m hpcpet VERB ...`` under SCOOP.

SCOOP runs a script file, not a module; the SCOOP backend starts this file
when it launches SCOOP for ``python -m hpcpet``.
"""
from hpcpet.cli import main

if __name__ == "__main__":
    main()
