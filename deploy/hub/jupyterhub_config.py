"""JupyterHub for one course on one server: local OS users, each server run as its user, nbgrader's
exchange in a shared folder, and the Formgrader as a hub-managed service for the instructors.

Everything that differs between machines is in the JSON file named by $COURSE_HUB_SETTINGS
(`deploy/hub/launch.py` writes it for `make hub` and for the tests; docs/hub.md describes each key).
"""

import json
import os

c = get_config()  # noqa: F821 (provided by traitlets when JupyterHub loads this file)
settings = json.loads(open(os.environ["COURSE_HUB_SETTINGS"], encoding="utf-8").read())

course = settings["course_id"]
state = settings["state_dir"]  # the hub's own database and secrets; root only
bin_dir = os.path.join(settings["python_env"], "bin")  # learners' and graders' environment
path = f"{bin_dir}:/usr/local/bin:/usr/bin:/bin"

# --- network: the proxy faces the browsers; the hub and the services listen on loopback only
c.JupyterHub.bind_url = settings["bind_url"]
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = settings["hub_port"]
c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{settings['proxy_api_port']}"
c.ConfigurableHTTPProxy.pid_file = os.path.join(state, "proxy.pid")
if settings.get("ssl_cert"):
    c.JupyterHub.ssl_cert = settings["ssl_cert"]
    c.JupyterHub.ssl_key = settings["ssl_key"]
c.JupyterHub.db_url = f"sqlite:///{os.path.join(state, 'jupyterhub.sqlite')}"
c.JupyterHub.cookie_secret_file = os.path.join(state, "jupyterhub_cookie_secret")

# --- who may log in: the course's OS accounts, with their system passwords (PAM)
instructors, learners = settings["instructors"], settings["learners"]
c.JupyterHub.authenticator_class = settings.get("authenticator", "pam")
c.Authenticator.allowed_users = set(instructors) | set(learners)
c.PAMAuthenticator.open_sessions = False  # no login session bookkeeping for web logins

# --- each person's JupyterLab runs as their own OS user, in their home folder. nbgrader finds the
# exchange root and the course id in the config folder named by JUPYTER_CONFIG_PATH, which also
# switches the instructor-only extensions off (the course service below has them).
c.JupyterHub.spawner_class = "localprocess"
c.Spawner.cmd = [os.path.join(bin_dir, "jupyterhub-singleuser")]
c.Spawner.default_url = "/lab"
c.Spawner.environment = {"JUPYTER_CONFIG_PATH": settings["learner_config"], "PATH": path}
c.Spawner.start_timeout = 300  # a loaded machine starts JupyterLab slowly
c.Spawner.http_timeout = 300

# --- the course service: a JupyterLab with the Formgrader, run as the grader account in the
# course folder (which only that account can read). Its name must be the course id (nbgrader).
c.JupyterHub.services = [
    {
        "name": course,
        "url": f"http://127.0.0.1:{settings['service_port']}",
        "command": [os.path.join(bin_dir, "jupyterhub-singleuser")],
        "user": settings["grader"],
        "cwd": settings["course_dir"],
        "oauth_no_confirm": True,
        "environment": {
            "JUPYTER_CONFIG_PATH": settings["grader_config"],
            "PATH": path,
            "JUPYTERHUB_DEFAULT_URL": "/lab",
        },
    }
]
c.JupyterHub.load_groups = {
    f"formgrade-{course}": {"users": instructors},
    f"nbgrader-{course}": {"users": learners},
}
c.JupyterHub.load_roles = [
    {
        "name": f"formgrade-{course}",
        "groups": [f"formgrade-{course}"],
        "scopes": [
            f"access:services!service={course}",
            "list:services",
            f"read:services!service={course}",
        ],
    }
]
