"""The HTTP API (FastAPI): parses a request, calls a service or a core, renders JSON, GeoJSON,
XLSX or a page. `app.create_app` is the factory; `errors` is the one place that knows HTTP
status codes. Nothing here imports the command line (`emgis.api.cli`), typer or rich.
"""
