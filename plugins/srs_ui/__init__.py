"""The operator view: SRS request pages served inside Airflow's own API server (issue 6).

``srs_ui.app`` is a FastAPI app that ``plugins/srs_ui_plugin.py`` mounts at ``/srs``; its pages
read the ticket store and the stored check reports, and only logged-in Airflow users see them.
"""
