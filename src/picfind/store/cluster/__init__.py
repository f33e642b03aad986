"""The cluster store (OpenSearch 2.x, Elasticsearch 8/9), one module per job.

=================  ==============================================================
``connection``     reach an endpoint, pick the client, turn failures into errors
``handle``         one index behind an alias: requests, scans, ``_meta``
``mapping``        the two layouts (picfind's, the paper's) and documents
``bodies``         query bodies, one clause per matcher type
``lease``          the writer lock
``writes``         bulk writes with retries, bulk loads
``queries``        the search strategies, re-scored exactly on the client
``admin``          creating indexes, reindexing behind the alias
``store``          :class:`ClusterStore`, the store seam over them
=================  ==============================================================
"""

from picfind.store.cluster.connection import ClusterOptions
from picfind.store.cluster.store import ClusterStore

__all__ = ["ClusterOptions", "ClusterStore"]
