"""What the project's Python tools (tools/mutate, tools/select_proof) share on the command line:
the bad-input exception and its exit status, the --jobs and --no-lock options, and main's error
handling, so that every tool answers bad input alike: "<tool>: error: <what>" and exit 2.

    from tool_cli import BadInput, add_run_options, run_main
    def main(argv=None, out=sys.stdout, err=sys.stderr):
        return run_main("tool.py", parse_args, lambda args, log: body(args, log, out), argv, err)

Standard library only.
"""

from build_lock import BUILD_LOCK

EXIT_OK = 0
EXIT_BAD_INPUT = 2


class BadInput(Exception):
    """An input error: exit 2 with the message."""


def add_run_options(parser, jobs_help):
    """--jobs N (>= 1, checked by run_main) and --no-lock."""
    parser.add_argument("--jobs", type=int, default=2, help=jobs_help)
    parser.add_argument("--no-lock", action="store_true", help=f"do not take {BUILD_LOCK}")


def run_main(tool, parse_args, body, argv, err):
    """Parses argv, then returns body(args, log), log writing a line to err at once. A usage error
    of argparse, --jobs < 1 and BadInput from body exit 2 (the message names the tool); --help
    exits 0."""
    try:
        args = parse_args(argv)
    except SystemExit as exit_:
        return EXIT_BAD_INPUT if exit_.code else EXIT_OK

    def log(message):
        err.write(message + "\n")
        err.flush()

    try:
        if args.jobs < 1:
            raise BadInput(f"--jobs must be >= 1, got {args.jobs}")
        return body(args, log)
    except BadInput as error:
        err.write(f"{tool}: error: {error}\n")
        return EXIT_BAD_INPUT
