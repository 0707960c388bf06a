"""The GraphQL catalog (graphene) served over HTTP (starlette + uvicorn).

It reads the metadata store only, through SQLAlchemy Core, and writes nothing but audit events
(denials, decisions) and the changes its mutations make. No Dagster, GX or DuckDB here.
"""
