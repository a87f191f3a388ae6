"""The SRS request pipeline's core: plain Python that knows nothing of Airflow."""
