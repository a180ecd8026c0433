"""Command line: python3 -m analysis {report,summary} results.h5 ..."""
import argparse
import sys

from .report import METRICS


def main(argv=None):
    p = argparse.ArgumentParser(prog="python3 -m analysis",
                                description="Analyse an eosweep results file.")
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("report", help="figures, eos.csv, runs.csv and index.md/index.html")
    r.add_argument("results", help="eosweep results file (.h5)")
    r.add_argument("-o", "--output", default="report", help="output directory (default: report)")
    r.add_argument("--x", help="heatmap x axis (a grid axis, default train.lr)")
    r.add_argument("--y", help="heatmap y axis (a grid axis, default train.batch_size)")
    r.add_argument("--metric", choices=METRICS, default="final_loss", help="heatmap metric")
    s = sub.add_parser("summary", help="print the run counts by status")
    s.add_argument("results")
    a = p.parse_args(argv)

    from .results import Results, ResultsError
    try:
        if a.cmd == "report":
            from .report import make_report
            index = make_report(a.results, a.output, a.x, a.y, a.metric)
            print(f"report: {index}")
        else:
            with Results(a.results) as res:
                df = res.runs(config=False)
            counts = df["status"].value_counts()
            print(f"{a.results}: {len(df)} runs: " +
                  ", ".join(f"{int(counts.get(k, 0))} {k}"
                            for k in ("done", "diverged", "failed", "pending")))
    except ResultsError as e:
        print(f"analysis: {e}", file=sys.stderr)
        return 1
    except ValueError as e:  # bad --x/--y/--metric for this file
        print(f"analysis: {e}", file=sys.stderr)
        return 2
    except OSError as e:
        print(f"analysis: {e.filename or ''}: {e.strerror or e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
