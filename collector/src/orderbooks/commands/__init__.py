"""One module per `orderbooks` subcommand.

Each module defines ``HELP`` (one line), ``configure(parser)`` that adds its
arguments, and ``run(args) -> int`` that returns a code from
``orderbooks.exitcodes``. A module may also define ``FROM_ENVIRONMENT``: the
long options that ``ORDERBOOKS_<OPTION>`` may set (default: every one). The
modules stay thin: the work is done by the packages below them.
"""
