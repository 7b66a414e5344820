"""One module per command-line verb; each defines ``add_parser(subparsers)``."""
