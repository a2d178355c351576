"""Package list for setuptools (the rest of the metadata, package data included, is in pyproject.toml).

pyproject.toml alone cannot combine package discovery with a renamed directory, so this file does
both: backend*, worker* and resphase* as found, plus the page: frontend/ at the top of the source
tree installs as `backend.frontend` (site-packages/backend/frontend/), never as a top-level
`frontend`. Data folders are listed as namespace packages too, as setuptools expects of folders that
carry package data. An editable install maps backend.frontend the same way; backend/main.py also
finds frontend/ beside backend/ in a plain source checkout.
"""

from setuptools import find_namespace_packages, setup

PAGE = "backend.frontend"
SKIP = ["*__pycache__", "*.egg-info"]

code = find_namespace_packages(include=["backend", "backend.*", "worker", "worker.*", "resphase", "resphase.*"],
                               exclude=SKIP)
page = [PAGE, *(f"{PAGE}.{name}" for name in find_namespace_packages(where="frontend", exclude=SKIP))]

setup(packages=[*code, *page], package_dir={PAGE: "frontend"})
