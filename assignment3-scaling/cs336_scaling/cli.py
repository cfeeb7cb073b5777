"""The `cs336-scaling` command line.

uv run cs336-scaling isoflops --data ../shared/data/scaling/isoflops_curves.json --out out/isoflops
uv run cs336-scaling serve --db scaling.db --add-user student:12345678
uv run cs336-scaling plan --embedded --world-seed 1
"""

import argparse
import json
import sys
from pathlib import Path

from cs336_scaling.errors import ConfigError, ScalingError


def _example(text: str) -> str:
    return f"example:\n  {text}"


def add_isoflops_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "isoflops", help="Chinchilla approach 2 (+3) on an IsoFLOPs file; table, JSON and PNG plots",
        epilog=_example("cs336-scaling isoflops --data ../shared/data/scaling/isoflops_curves.json --out out/iso"),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    p.add_argument("--data", type=Path, required=True, help="isoflops_curves.json")
    p.add_argument("--method", choices=["argmin", "parabola", "both"], default="both")
    p.add_argument("--window", type=int, default=None, help="parabola: points around the argmin (default all)")
    p.add_argument("--out", "--out-dir", dest="out", type=Path, default=Path("out/isoflops"))
    p.add_argument("--bootstrap", type=int, default=2000, help="bootstrap resamples for the CIs")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-approach3", action="store_true", help="skip the parametric L(N, D) fit")
    p.add_argument("--no-plots", action="store_true")
    p.set_defaults(handler=cmd_isoflops)


def cmd_isoflops(args: argparse.Namespace) -> int:
    from cs336_scaling.analysis.report import IsoflopsStudyConfig, format_table, run_isoflops_study

    methods = ("argmin", "parabola") if args.method == "both" else (args.method,)
    cfg = IsoflopsStudyConfig(
        data=args.data, out_dir=args.out, methods=methods, window=args.window, n_bootstrap=args.bootstrap,
        seed=args.seed, approach3=not args.no_approach3, plots=not args.no_plots,
    )  # fmt: skip
    print(format_table(run_isoflops_study(cfg)))
    print(f"\nwrote {args.out / 'isoflops.json'}")
    return 0


def _world(args: argparse.Namespace):  # noqa: ANN202
    from cs336_scaling.backends.world import World

    return World.load(args.world) if getattr(args, "world", None) else World.sample(args.world_seed)


def add_serve_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "serve", help="run the training API (FastAPI + dispatcher) on loopback",
        epilog=_example("cs336-scaling serve --db scaling.db --add-user student:12345678 --port 8000"),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    p.add_argument("--db", default="scaling.db", help="SQLite path or postgresql:// URL")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--backend", choices=["simulated", "local"], default="simulated")
    p.add_argument("--world-seed", type=int, default=0, help="simulated world (0 = default constants)")
    p.add_argument("--world", type=Path, default=None, help="world TOML file (overrides --world-seed)")
    p.add_argument("--time-scale", type=float, default=0.0, help="real seconds per simulated second (0 = instant)")
    p.add_argument("--budget-seconds", type=float, default=43200.0)
    p.add_argument("--users", type=Path, default=None, help="sunet_id,api_key CSV to seed an empty DB")
    p.add_argument("--add-user", action="append", default=[], metavar="SUNET:KEY")
    p.add_argument("--max-workers", type=int, default=2)
    p.add_argument("--data-dir", type=Path, default=None, help="local backend: token shards (train/*.npy)")
    p.add_argument("--classic", action="store_true", help="also serve the 2024/2025 FLOPs API (/loss, …)")
    p.add_argument(
        "--keep-orphans", action="store_true",
        help="leave rows that were running when a previous server stopped (default: fail them, charged 1 s)",
    )  # fmt: skip
    p.set_defaults(handler=cmd_serve)


def cmd_serve(args: argparse.Namespace) -> int:
    import os

    import uvicorn

    from cs336_scaling.backends import make_backend
    from cs336_scaling.server.app import Settings, create_app
    from cs336_scaling.server.dispatch import Dispatcher
    from cs336_scaling.server.store import Store

    store = Store(args.db)
    if args.users:
        print(f"seeded {store.seed_users(args.users)} users")
    for spec in args.add_user:
        sunet, _, key = spec.partition(":")
        if not sunet or not key:
            raise ConfigError(f"--add-user expects SUNET:KEY, got {spec!r}")
        if store.user_for_key(key) is None:
            store.add_user(sunet, key)
    if not args.keep_orphans:
        orphans = store.fail_orphans()
        if orphans:
            print(f"failed {len(orphans)} experiment(s) left running by a previous server: {orphans}")
    if args.backend == "simulated":
        backend = make_backend("simulated", world=_world(args), time_scale=args.time_scale)
    else:
        backend = make_backend("local", data_dir=args.data_dir)
    settings = Settings(
        db_url=args.db, total_budget_seconds=args.budget_seconds, internal_api_key=os.environ.get("INTERNAL_API_KEY"),
        classic_world_seed=args.world_seed if args.classic else None,
    )  # fmt: skip
    dispatcher = Dispatcher(store, backend, max_workers=args.max_workers, interval_s=0.2)
    dispatcher.start()
    try:
        uvicorn.run(create_app(settings, store=store), host=args.host, port=args.port, log_level="warning")
    finally:
        dispatcher.stop()
    return 0


def _client(args: argparse.Namespace):  # noqa: ANN202
    from cs336_scaling.client import Client

    return Client(args.url, args.api_key)


def _read_json(path: str) -> dict:
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text()
        return json.loads(text)
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(f"cannot read JSON from {path}: {exc}") from exc


def add_client_parsers(sub: argparse._SubParsersAction) -> None:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--url", default=None, help="API base URL (default $A3_API_BASE_URL or http://127.0.0.1:8000)")
    common.add_argument("--api-key", default=None, help="default $A3_API_KEY")
    specs = {
        "submit": ("submit a TrainingConfig JSON file ('-' = stdin)", "cs336-scaling submit config.json"),
        "wait": ("wait for an experiment to finish and print it", "cs336-scaling wait 3"),
        "budget": ("print the budget summary", "cs336-scaling budget"),
        "experiments": ("list your experiments", "cs336-scaling experiments"),
        "final-submit": (
            "submit the final config and predicted loss",
            "cs336-scaling final-submit cfg.json --loss 2.9",
        ),
    }
    for name, (help_text, example) in specs.items():
        p = sub.add_parser(name, parents=[common], help=help_text, epilog=_example(example),
                           formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
        if name in ("submit", "final-submit"):
            p.add_argument("config", help="TrainingConfig JSON file or '-'")
        if name == "final-submit":
            p.add_argument("--loss", type=float, required=True, help="predicted final validation loss")
        if name == "wait":
            p.add_argument("experiment_id", type=int)
            p.add_argument("--poll", type=float, default=2.0, help="seconds between polls")
        p.set_defaults(handler=cmd_client, client_cmd=name)


def cmd_client(args: argparse.Namespace) -> int:
    api = _client(args)
    cmd = args.client_cmd
    if cmd == "submit":
        out = api.submit_experiment(_read_json(args.config)).model_dump(mode="json")
    elif cmd == "wait":
        out = api.wait_for(args.experiment_id, poll_s=args.poll).model_dump(mode="json")
    elif cmd == "budget":
        out = api.get_budget().model_dump(mode="json")
    elif cmd == "experiments":
        for e in api.list_experiments():
            st = e.status
            loss = getattr(st, "val_losses", None)
            print(f"{e.experiment_id:>5}  {st.status_type:<9}  {loss[-1] if loss else '-'}")
        return 0
    else:
        body = {"training_config": _read_json(args.config), "predicted_final_loss": args.loss}
        out = api.save_final_submission_json(body).model_dump(mode="json")
    print(json.dumps(out, indent=2))
    return 0


def add_plan_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "plan", help="spend the budget on a scaling study, fit, final-submit (and grade with --embedded)",
        epilog=_example("cs336-scaling plan --embedded --world-seed 1"),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    p.add_argument("--embedded", action="store_true", help="run server + simulated backend in-process")
    p.add_argument("--world-seed", type=int, default=0)
    p.add_argument("--world", type=Path, default=None)
    p.add_argument("--url", default=None)
    p.add_argument("--api-key", default=None)
    p.add_argument("--config", type=Path, default=None, help="PlannerConfig TOML ([planner] table or top level)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a PlannerConfig field")
    p.add_argument("--dry-run", action="store_true", help="print the resolved planner config and exit")
    p.add_argument("--out", "--out-dir", dest="out", type=Path, default=None, help="write plan.json here")
    p.set_defaults(handler=cmd_plan)


def cmd_plan(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from cs336_scaling.backends.simulated import SimulatedBackend
    from cs336_scaling.client import EmbeddedClient
    from cs336_scaling.config import resolve_config
    from cs336_scaling.grade import grade
    from cs336_scaling.planner import Planner, PlannerConfig

    cfg = resolve_config(PlannerConfig, args.config, args.set, section="planner")
    if args.dry_run:
        print(json.dumps(asdict(cfg), indent=2))
        return 0
    world = _world(args) if args.embedded else None
    api = EmbeddedClient(backend=SimulatedBackend(world)) if args.embedded else _client(args)
    with api:
        result = Planner(api, cfg, echo=print).run()
        out = {
            "final_config": result.final_config.model_dump(mode="json"), "predicted_loss": result.predicted_loss,
            "predicted_n": result.predicted_n, "law": asdict(result.law), "runs": result.n_runs,
            "budget_used_seconds": result.budget_used, "isoflops_exponent": result.isoflops_exponent,
        }  # fmt: skip
        if world is not None:
            report = grade(result.final_config, result.predicted_loss, world, target_seconds=cfg.target_seconds,
                           budget_used_seconds=result.budget_used)  # fmt: skip
            out["grade"] = report.as_dict()
            _print_grade(report.as_dict())
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "plan.json").write_text(json.dumps(out, indent=2))
    return 0


def _print_grade(report: dict) -> None:
    print("| metric | value |\n|---|---:|")
    for k, v in report.items():
        print(f"| {k} | {v:.6g} |" if isinstance(v, float) else f"| {k} | {v} |")


def add_grade_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "grade", help="grade a user's final submission against the simulated world's optimum",
        epilog=_example("cs336-scaling grade --db scaling.db --user student --world-seed 0"),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    p.add_argument("--db", default="scaling.db")
    p.add_argument("--user", required=True, help="sunet_id")
    p.add_argument("--world-seed", type=int, default=0)
    p.add_argument("--world", type=Path, default=None)
    p.add_argument("--target-hours", type=float, default=48.0)
    p.add_argument("--budget-seconds", type=float, default=43200.0)
    p.set_defaults(handler=cmd_grade)


def cmd_grade(args: argparse.Namespace) -> int:
    from cs336_scaling.api import TrainingConfig
    from cs336_scaling.grade import grade
    from cs336_scaling.server.store import Store

    store = Store(args.db)
    got = store.get_final(args.user)
    if got is None:
        raise ScalingError(f"user {args.user!r} has no final submission in {args.db}")
    report = grade(
        TrainingConfig.model_validate(got[0]), got[1], _world(args), target_seconds=args.target_hours * 3600,
        budget_used_seconds=store.used_seconds(args.user), total_budget_seconds=args.budget_seconds,
    )  # fmt: skip
    _print_grade(report.as_dict())
    return 0


def add_plot_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "plot", help="plot a user's experiments (loss curves; final loss vs N by compute) from a DB or the API",
        epilog=_example("cs336-scaling plot --db scaling.db --user student --out out/plots"),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    p.add_argument("--db", default=None, help="read the store directly (with --user)")
    p.add_argument("--user", default=None, help="sunet_id, with --db")
    p.add_argument("--url", default=None, help="or read through the API (default $A3_API_BASE_URL)")
    p.add_argument("--api-key", default=None)
    p.add_argument("--out", "--out-dir", dest="out", type=Path, default=Path("out/plots"))
    p.set_defaults(handler=cmd_plot)


def cmd_plot(args: argparse.Namespace) -> int:
    from cs336_scaling.analysis.experiments_plot import plot_experiments

    if args.db:
        from cs336_scaling.server.store import Store

        if not args.user:
            raise ConfigError("--db needs --user")
        rows = Store(args.db).list_experiments(args.user)
        exps = [{"experiment_id": r.id, "training_config": r.training_config, "status": r.status} for r in rows]
    else:
        exps = [e.model_dump(mode="json") for e in _client(args).list_experiments()]
    for path in plot_experiments(exps, args.out):
        print(f"wrote {path}")
    return 0


def add_make_corpus_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "make-corpus", help="write a seeded synthetic uint16 token corpus for the local backend",
        epilog=_example("cs336-scaling make-corpus --out data/synthetic --train-tokens 20000000 --vocab-size 512"),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    p.add_argument("--out", "--out-dir", dest="out", type=Path, required=True)
    p.add_argument("--train-tokens", type=int, default=20_000_000)
    p.add_argument("--vocab-size", type=int, default=512)
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(handler=cmd_make_corpus)


def cmd_make_corpus(args: argparse.Namespace) -> int:
    from cs336_scaling.backends.local import make_synthetic_corpus

    root = make_synthetic_corpus(args.out, train_tokens=args.train_tokens, vocab_size=args.vocab_size, seed=args.seed)
    print(f"wrote {root}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cs336-scaling", description=__doc__.splitlines()[0])
    parser.add_argument("--debug", action="store_true", help="re-raise errors with their traceback")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    add_isoflops_parser(sub)
    add_serve_parser(sub)
    add_client_parsers(sub)
    add_plan_parser(sub)
    add_grade_parser(sub)
    add_make_corpus_parser(sub)
    add_plot_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "handler", None) is None:
        parser.print_help()
        return 0
    try:
        return args.handler(args)
    except ScalingError as exc:
        if args.debug:
            raise
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # output piped into `head` and closed early: not an error
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    raise SystemExit(main())
