.PHONY: run run-distributed test test-distributed lint bench bench-load lock constraints clean

run:  ## set up .venv and start the embedded system on http://localhost:8080
	./scripts/run_embedded.sh

run-distributed:  ## the production shape as processes here: Celery+Redis, PostgreSQL, S3 (README)
	./scripts/run_distributed.sh

test:  ## set up .venv and run the whole test suite
	./scripts/test.sh

test-distributed:  ## the e2e subset against the distributed profile (skips without PostgreSQL/Redis)
	./scripts/test_distributed.sh $(PYTEST_ARGS)

lint:
	.venv/bin/ruff check .

bench:  ## check-engine benchmark against plain pandas reads (table in bench-results/results.md)
	./scripts/bootstrap.sh
	mkdir -p bench-results
	.venv/bin/python scripts/bench_checks.py --workdir bench-results | tee bench-results/results.md

bench-load:  ## burst of 50 requests on the embedded default, then the distributed profile, each started in a temp AIRFLOW_HOME (README: Burst load)
	./scripts/bootstrap.sh
	mkdir -p bench-results
	.venv/bin/python scripts/bench_load.py --profile both $(BENCH_LOAD_ARGS) --json bench-results/load.json | tee bench-results/load.txt

bench-open:  ## operator view, intake sweep and submit-to-officer time at 10 vs 1,000 open (README: Many open requests)
	./scripts/bootstrap.sh
	mkdir -p bench-results
	.venv/bin/python scripts/bench_open_requests.py $(BENCH_OPEN_ARGS) --json bench-results/open_requests.json | tee bench-results/open_requests.txt

lock:  ## re-pin requirements.txt (runtime) and requirements-dev.txt (tests, tools) from their .in
	.venv/bin/uv pip compile requirements.in -o requirements.txt --python-version 3.11 -q --no-header
	.venv/bin/uv pip compile requirements-dev.in -o requirements-dev.txt --python-version 3.11 -q --no-header

constraints:  ## vendor Airflow's constraints for the pinned version (tests/unit/test_requirements.py)
	curl -sSfL -o deploy/airflow-constraints/constraints-3.3.2-python3.11.txt \
	  https://raw.githubusercontent.com/apache/airflow/constraints-3.3.2/constraints-3.11.txt

clean:
	rm -rf .airflow .airflow-distributed .pytest_cache bench-results test-artifacts
