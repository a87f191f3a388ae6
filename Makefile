.PHONY: run test lint bench lock clean

run:  ## set up .venv and start the embedded system on http://localhost:8080
	./scripts/run_embedded.sh

test:  ## set up .venv and run the whole test suite
	./scripts/test.sh

lint:
	.venv/bin/ruff check .

bench:  ## check-engine benchmark against plain pandas reads (table in bench-results/results.md)
	./scripts/bootstrap.sh
	mkdir -p bench-results
	.venv/bin/python scripts/bench_checks.py --workdir bench-results | tee bench-results/results.md

lock:  ## re-pin requirements.txt from requirements.in
	.venv/bin/uv pip compile requirements.in -o requirements.txt --python-version 3.11 -q --no-header

clean:
	rm -rf .airflow .pytest_cache bench-results test-artifacts
