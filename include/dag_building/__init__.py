"""Building the request DAGs: the one factory (``request_dag``), how a task runs a step
(``task_steps``) and the sign-off operator (``signoff_operator``).

This is DAG-building code, not an Airflow plugin, so it lives beside the steps it wires rather
than in ``plugins/`` (which keeps only what Airflow loads as plugins: the priority strategy and
the operator view). It is the only part of ``include`` that imports Airflow; the DAG files in
``dags/`` import it at parse time, so it imports the steps only inside the tasks.
"""
