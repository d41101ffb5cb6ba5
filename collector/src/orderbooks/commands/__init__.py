"""One module per `orderbooks` subcommand.

Each module defines ``HELP`` (one line), ``configure(parser)`` that adds its
arguments, and ``run(args) -> int`` that returns a code from
``orderbooks.exitcodes``. The modules stay thin: the work is done by the
library modules one level up.
"""
