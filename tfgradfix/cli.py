"""The command line (DESIGN §1): `tfgradfix [check] [OPTIONS] PATH...`, `rule`, `rules`."""

from __future__ import annotations

import sys
import time
from itertools import chain
from pathlib import Path
from typing import Optional

import click

from tfgradfix import __version__
from tfgradfix.config import ConfigError, load_config
from tfgradfix.engine import Engine, FileResult, parse_source
from tfgradfix.files import STDIN, SourceError, discover, read_source, write_source
from tfgradfix.noqa import add_noqa
from tfgradfix.report.diff import unified_diff
from tfgradfix.report.github import write_github
from tfgradfix.parallel import default_jobs, process_files
from tfgradfix.report.interactive import Quit, Review
from tfgradfix.report.progress import Progress
from tfgradfix.report.json_format import write_json
from tfgradfix.report.run import RunReport, display_path
from tfgradfix.report.sarif import write_sarif
from tfgradfix.report.text import write_statistics, write_text
from tfgradfix.rules import RULES_BY_CODE, select_rules
from tfgradfix.rules.docs import fix_kind, render
from tfgradfix.verify.runner import describe, summary_lines, tally, verify_files
from tfgradfix.verify.units import accepts, changed_units, verdict_for, verified_units

EXIT_CLEAN, EXIT_FINDINGS, EXIT_ERROR = 0, 1, 2


class DefaultCommandGroup(click.Group):
    """`check` runs when the first argument is not a command, as in Ruff."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if not args or (args[0] not in self.commands and args[0] not in ("--help", "-h", "--version")):
            args = ["check", *args]
        return super().parse_args(ctx, args)


@click.group(cls=DefaultCommandGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="tfgradfix")
def main() -> None:
    """Find and fix TensorFlow/Keras code whose gradients come back None."""


def _codes(values: tuple[str, ...]) -> list[str]:
    return [code.strip().upper() for value in values for code in value.split(",") if code.strip()]


_FORMATS = {"text": write_text, "json": write_json, "sarif": write_sarif, "github": write_github}


@main.command()
@click.argument("paths", nargs=-1, type=click.Path())
@click.option("--diff", is_flag=True, help="Print a unified diff of the fixes; write nothing.")
@click.option("--fix", is_flag=True, help="Apply fixes in place.")
@click.option("--unsafe-fixes", is_flag=True, default=None, help="Also apply fixes marked unsafe.")
@click.option("--select", multiple=True, help="Rule codes or prefixes to enable (TGF1, TGF101, ALL).")
@click.option("--ignore", multiple=True, help="Rule codes or prefixes to disable.")
@click.option("--exclude", multiple=True, help="Files or folders to skip (names, paths or globs).")
@click.option("--output-format", type=click.Choice(list(_FORMATS)), default="text", show_default=True)
@click.option("--exit-zero", is_flag=True, help="Exit 0 even when findings remain.")
@click.option("--add-noqa", is_flag=True, help="Add `# noqa: CODE` to every line with a finding.")
@click.option("--stdin-filename", help="The name of the file read from `-`, for messages and per-file-ignores.")
@click.option("-i", "--interactive", is_flag=True, help="With --fix: show each fix and ask before applying it.")
@click.option("-j", "--jobs", type=click.IntRange(min=1), default=None,
              help="Worker processes (default: the number of CPUs).")
@click.option("--no-progress", is_flag=True, help="No progress line on stderr.")
@click.option("--statistics", is_flag=True, help="Count findings per rule instead of listing them.")
@click.option("--verify", is_flag=True,
              help="Run each changed layer before and after its fixes (user code runs, in a child process); "
                   "with --fix, write only files whose fixes verified.")
@click.option("--verify-device", type=click.Choice(["auto", "cpu", "gpu"]), default="auto", show_default=True)
@click.option("--verify-timeout", type=click.FloatRange(min=1), default=300.0, show_default=True,
              help="Seconds the verifying child may run.")
@click.option("--python", "python_path", type=click.Path(dir_okay=False),
              help="The Python (with TensorFlow) that runs the verification; default: this one.")
def check(paths: tuple[str, ...], diff: bool, fix: bool, unsafe_fixes: Optional[bool], select: tuple[str, ...],
          ignore: tuple[str, ...], exclude: tuple[str, ...], output_format: str, exit_zero: bool,
          add_noqa: bool, stdin_filename: Optional[str], interactive: bool, jobs: Optional[int],
          no_progress: bool, statistics: bool, verify: bool, verify_device: str, verify_timeout: float,
          python_path: Optional[str]) -> None:
    """Report (and with --fix or --diff, fix) findings in PATHS (files, folders or -)."""
    paths = paths or (".",)
    if interactive and (not fix or diff or STDIN in paths):
        raise click.UsageError("-i/--interactive goes with --fix, on files (not with --diff or -)")
    try:
        config = load_config(Path(stdin_filename if paths[0] == STDIN and stdin_filename else paths[0]))
        selected = _codes(select) or (config.select or ["ALL"]) + config.extend_select
        rules = select_rules(selected, _codes(ignore) or config.ignore)
    except (ConfigError, ValueError) as error:
        raise click.UsageError(str(error)) from error
    unsafe = config.unsafe_fixes if unsafe_fixes is None else unsafe_fixes
    if verify and add_noqa:
        raise click.UsageError("--verify goes with check, --diff or --fix")
    engine = Engine(rules, fix=(fix or diff or verify) and not add_noqa, unsafe_fixes=unsafe,
                    ignored_for=config.ignored_for)
    files, missing = discover(paths, exclude or config.exclude)
    report = RunReport(errors=[(p, m) for p, m in missing], fix_mode=fix and not diff and not add_noqa)
    if interactive:
        verifier = None
        if verify:
            def verifier(path: str, before: str, after: str) -> dict:
                return verify_files([(path, before, after)], python_path, verify_device, verify_timeout,
                                    config.verify.get("examples", {}))[0]
        _review(Engine(rules, unsafe_fixes=unsafe, ignored_for=config.ignored_for), files, report, verifier)
        write_text(report, sys.stdout)
        sys.exit(_exit_code(report, False, exit_zero))
    started = time.monotonic()
    mode = "noqa" if add_noqa else "diff" if diff else "fix" if fix and not verify else "check"
    diffs, added = _run(engine, files, report, mode, jobs or default_jobs(), stdin_filename,
                        progress=Progress(len(files), enabled=sys.stderr.isatty() and not no_progress))
    if verify:
        _verify(report, engine, fix and not diff, python_path, verify_device, verify_timeout,
                config.verify.get("examples", {}))
    report.seconds = time.monotonic() - started
    for path, message in report.all_errors:
        click.echo(f"error: {path}: {message}", err=True)
    changed = False
    if add_noqa:
        click.echo(f"Added {added} noqa directive{'s' if added != 1 else ''}.", err=True)
        sys.exit(EXIT_ERROR if report.all_errors else EXIT_CLEAN)
    if diff:
        text = "".join(diffs)
        click.echo(text, nl=False)
        would = sum(len(r.applied) for r in report.results)
        click.echo(f"Would fix {would} finding{'s' if would != 1 else ''}.", err=True)
        changed = bool(text)
    else:
        out = sys.stderr if fix and STDIN in files else sys.stdout
        if output_format == "sarif":
            write_sarif(report, out, engine)
        elif output_format == "text" and statistics:
            write_statistics(report, out)
        else:
            _FORMATS[output_format](report, out)
        if output_format == "text" and verify:
            for result in report.results:
                for name, verdict in result.verification.items():
                    out.write(f"{display_path(result.path)}: {describe(name, verdict)}\n")
            out.write("".join(line + "\n" for line in summary_lines(report.results, display_path)))
        if output_format == "text":
            click.echo(report.summary_line(), err=True)
    sys.exit(_exit_code(report, changed, exit_zero))


def _run(engine: Engine, files: list[str], report: RunReport, mode: str, jobs: int,
         stdin_filename: Optional[str], progress: Progress) -> tuple[list[str], int]:
    """Process every file (stdin first, then the rest in path order), writing, diffing or
    annotating as `mode` says. Returns the diffs and the number of noqa lines added."""
    diffs: list[str] = []
    added = 0
    regular = [path for path in files if path != STDIN]
    results = chain((_process(engine, STDIN, stdin_filename) for path in files if path == STDIN),
                    process_files(engine, regular, jobs))
    try:
        for result in results:
            report.results.append(result)
            if mode == "noqa":
                added += _write_noqa(result, report)
            elif mode == "diff":
                diffs.append(unified_diff(result))
            elif mode == "fix" and result.changed:
                _write(result, report)
            if not result.findings and not result.changed:
                result.source = None  # keep memory flat over large runs
            progress.advance(len(result.findings))
    except KeyboardInterrupt:
        progress.close()
        written = sum(1 for r in report.results if r.applied and r.source is not None) if mode == "fix" else 0
        click.echo(f"Interrupted: {written} file{'s' if written != 1 else ''} written with every fix; "
                   "every other file is unchanged.", err=True)
        sys.exit(130)
    progress.close()
    return diffs, added


def _verify(report: RunReport, engine: Engine, write: bool, python: Optional[str], device: str, timeout: float,
            examples: dict) -> None:
    """Verify every changed file in one child process per batch; attach the verdicts to the
    findings; with `write`, write the fixes of the units that verified."""
    changed = [r for r in report.results if r.changed and not r.error]
    verdicts = verify_files([(r.path, r.source.text, r.new_text) for r in changed], python, device, timeout,
                            examples)
    for result, units in zip(changed, verdicts):
        result.verification = units
        for finding in [*result.findings, *result.original_findings]:
            finding.verification = verdict_for(units, finding.symbol)
        verified = verified_units(units)
        if write and units and verified == set(units):
            _write(result, report)
            continue
        partial = _verified_part(engine, result, units) if write and verified else None
        if partial is not None:
            result.new_text, result.applied, result.findings = partial.new_text, partial.applied, partial.findings
            _write(result, report)
        elif write:
            result.findings, result.applied = result.original_findings, []
        if write:
            refused = ", ".join(f"{name} {u['verdict']}" for name, u in units.items() if u["verdict"] != "verified")
            kept = f" (written for {', '.join(sorted(verified))})" if partial is not None else ""
            click.echo(f"{display_path(result.path)}: fixes not written: {refused or 'nothing to run'}{kept}", err=True)
    if not write:
        for result in report.results:
            if result.original_findings:
                result.findings = result.original_findings
    report.verification = tally(report.results)


def _verified_part(engine: Engine, result: FileResult, units: dict) -> Optional[FileResult]:
    """The file fixed again with only the fixes of its verified units, when each of those
    runs exactly as it was verified and nothing unverified changed; else None."""
    partial = Engine(engine.rules, fix=True, unsafe_fixes=engine.unsafe_fixes, ignored_for=engine.ignored_for,
                     accept=lambda finding: accepts(units, finding.symbol)).process(result.source)
    if partial.error or not partial.changed:
        return None
    verified = verified_units(units)
    if not {u.name for u in changed_units(result.source.text, partial.new_text)} <= verified:
        return None
    return partial if runs_as_verified(result.new_text, partial.new_text, verified) else None


def _process(engine: Engine, path: str, stdin_filename: Optional[str]) -> FileResult:
    if path != STDIN:
        return engine.process_path(path)
    try:
        source = read_source(STDIN)
    except SourceError as error:
        return FileResult(path=stdin_filename or STDIN, error=str(error))
    source.path = stdin_filename or STDIN
    return engine.process(source)


def _review(engine: Engine, files: list[str], report: RunReport, verifier=None) -> None:
    """Ask about each fix; write each file once with what was accepted."""
    review = Review(engine, verifier)
    for path in files:
        try:
            source = read_source(path)
        except SourceError as error:
            report.errors.append((display_path(path), str(error)))
            continue
        result = FileResult(path=path, source=source)
        report.results.append(result)
        quit_now = False
        try:
            text = review.file(source, result)
        except Quit as answer:
            text, quit_now = answer.text, True
        if text is not None:
            result.new_text = text
            _write(result, report)
        if result.error is None and engine.may_match(result.new_text or source.text):
            result.findings = engine.findings(parse_source(result.new_text or source.text), path)
        if quit_now:
            break


def _write_noqa(result: FileResult, report: RunReport) -> int:
    """Write `# noqa` for the file's findings; how many lines got one."""
    source = result.source
    if source is None or not result.findings:
        return 0
    text, added = add_noqa(source.text, [(f.line, f.code) for f in result.findings])
    if not added:
        return 0
    try:
        compile(text, source.path, "exec")  # a finding inside a multi-line string cannot take a comment
        if source.from_stdin:
            sys.stdout.buffer.write(source.encode(text))
        else:
            write_source(source, text)
    except (SyntaxError, OSError, SourceError) as error:
        report.errors.append((display_path(result.path), f"noqa not added: {error}"))
        return 0
    return added


def _write(result: FileResult, report: RunReport) -> None:
    assert result.source is not None and result.new_text is not None
    if result.source.from_stdin:
        sys.stdout.buffer.write(result.source.encode(result.new_text))
        return
    try:
        write_source(result.source, result.new_text)
    except (OSError, SourceError) as error:
        report.errors.append((display_path(result.path), f"not written: {error}"))
        result.applied = []


def _exit_code(report: RunReport, changed: bool, exit_zero: bool) -> int:
    if report.all_errors:
        return EXIT_ERROR
    if (report.findings or changed) and not exit_zero:
        return EXIT_FINDINGS
    return EXIT_CLEAN


@main.command()
@click.argument("code")
def rule(code: str) -> None:
    """Explain a rule: what it finds, why, an example, fix safety."""
    found = RULES_BY_CODE.get(code.upper())
    if found is None:
        raise click.UsageError(f"unknown rule code: {code}")
    click.echo(render(found), nl=False)


@main.command(name="rules")
def list_rules() -> None:
    """List all rules."""
    width = max(len(r.name) for r in RULES_BY_CODE.values())
    for code, found in RULES_BY_CODE.items():
        click.echo(f"{code}  {found.name:<{width}}  fix: {fix_kind(found):<6}  {found.summary}")
