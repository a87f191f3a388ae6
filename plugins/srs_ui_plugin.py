"""The SRS operator view as an Airflow 3 UI plugin: pages at ``/srs``, an entry in the nav bar.

- ``fastapi_apps``: ``srs_ui.app`` mounted at ``/srs`` on the API server (the request queue at
  ``/srs/requests``, one request at ``/srs/requests/<STATS-ID>``); every page needs a logged-in
  Airflow user (bearer token or the UI's ``_token`` cookie).
- ``external_views``: "Requests" in the UI's navigation, the queue framed at
  ``/plugin/srs-requests``; "Sign-offs", the user's own waiting sign-offs (``/srs/signoffs``);
  and an "SRS request" tab on DAG runs that leads from a run ``<STATS-ID>-r<n>`` to its
  request page.
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin
from srs_ui.app import NAV_ROUTE, URL_PREFIX, app


class SrsUiPlugin(AirflowPlugin):
    name = "srs_ui"
    fastapi_apps = [{"app": app, "url_prefix": URL_PREFIX, "name": "SRS requests"}]
    external_views = [
        {
            "name": "Requests",  # the nav bar shows ~8 characters under the icon
            "href": f"{URL_PREFIX}/requests",
            "destination": "nav",
            "url_route": NAV_ROUTE,
        },
        {
            # Each person's own waiting sign-offs (Airflow's Required Actions list everyone's).
            "name": "Sign-offs",
            "href": f"{URL_PREFIX}/signoffs",
            "destination": "nav",
            "url_route": "srs-signoffs",
        },
        {
            "name": "SRS request",
            "href": f"{URL_PREFIX}/runs/{{DAG_ID}}/{{RUN_ID}}",
            "destination": "dag_run",
            "url_route": "srs-request",
        },
    ]
