#!/usr/bin/env python3
"""What the browser downloads, brotli-compressed, against budgets.

Run after `cargo leptos build --release --split --precompress`, which writes a .br beside every
file. Every page load fetches the main JS, the main WASM module and the split loader; a route
then fetches its own module (`split___<route>_route_view_*.wasm`) and the shared chunks the
loader lists for it. First route: the base plus the heaviest of the pages a visit can start on
(sign-in, register, dashboard). Route: one route's module plus its chunks, what navigating to it
costs with nothing cached. Budgets in KiB come from the environment (the Makefile sets them);
exits 1 when one is crossed, 2 when the build output is not what it expects.
"""
import glob, os, re, sys

pkg = sys.argv[1] if len(sys.argv) > 1 else "target/site/pkg"
first_kb = int(os.environ["FIRST_ROUTE_KB"])
route_kb = int(os.environ["ROUTE_KB"])
LANDING = ("sign_in", "register", "dashboard")


def br(path):
    if not os.path.exists(path + ".br"):
        sys.exit(f"size-check: {path}.br is missing (build with --precompress)")
    return os.path.getsize(path + ".br")


def one(pattern):
    found = glob.glob(os.path.join(pkg, pattern))
    if len(found) != 1:
        sys.exit(f"size-check: expected one {pattern} in {pkg}, found {len(found)}")
    return found[0]


kib = lambda b: f"{b / 1024:.1f}"
main_js, main_wasm, loader = one("blueprint*.js"), one("blueprint*.wasm"), one("__wasm_split*.js")
base = sum(br(f) for f in (main_js, main_wasm, loader))
for f in (main_js, main_wasm, loader):
    print(f"  {os.path.basename(f):<48} {kib(br(f)):>8} KiB br")

text = open(loader).read()
files = dict(re.findall(r'const (__chunk_\d+) = makeLoad\(\(\) => \{\s*const src = fetch\(new URL\("\./([^"]+)"', text))
routes = {}
for name, file, deps in re.findall(
    r'__wasm_split_load___(\w+?)_route_view_\d+ = wrapAsyncCb\(makeLoad\(\(\) => \{\s*'
    r'const src = fetch\(new URL\("\./([^"]+)".*?\n\}\n, \[([^\]]*)\]', text, re.S):
    chunks = [d.strip() for d in deps.split(",") if d.strip()]
    missing = [c for c in chunks if c not in files]
    if missing:
        sys.exit(f"size-check: the loader names chunks it does not define: {missing[:3]}")
    routes[name] = br(os.path.join(pkg, file)) + sum(br(os.path.join(pkg, files[c])) for c in chunks)
if not routes:
    sys.exit("size-check: found no route modules in the split loader")

status = 0
print("routes (own module + shared chunks, nothing cached):")
for name, size in sorted(routes.items(), key=lambda r: -r[1]):
    flag = "  OVER" if size > route_kb * 1024 else ""
    print(f"  {name:<20} {kib(size):>8} KiB br{flag}")
    if flag:
        status = 1
landing = {n: base + routes[n] for n in LANDING if n in routes}
if not landing:
    sys.exit(f"size-check: none of the landing routes {LANDING} is in the loader")
worst = max(landing, key=landing.get)
print(f"first route: {kib(landing[worst])} KiB brotli on /{worst} (base {kib(base)}; budget {first_kb} KiB)")
if landing[worst] > first_kb * 1024:
    print("size-check: the first route is over its budget", file=sys.stderr)
    status = 1
heaviest = max(routes, key=routes.get)
print(f"heaviest route: {heaviest}, {kib(routes[heaviest])} KiB brotli (budget {route_kb} KiB)")
sys.exit(status)
