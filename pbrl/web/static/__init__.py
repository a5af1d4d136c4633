"""The labeling page's static files (HTML, CSS, JS), served by :mod:`pbrl.web.app`; no build step."""
