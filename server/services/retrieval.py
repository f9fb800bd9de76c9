"""RetrievalService servicer: proto in, domain call, proto out."""

from __future__ import annotations

from projectqa.v1 import retrieval_pb2 as pb
from projectqa.v1 import retrieval_pb2_grpc

from ..interceptors import current_principal
from ..retrieval.ops import RetrievalOps
from ..retrieval.query import SearchQuery
from . import Context
from . import convert_retrieval as convert


class RetrievalServicer(retrieval_pb2_grpc.RetrievalServiceServicer):
    def __init__(self, ops: RetrievalOps) -> None:
        self._ops = ops

    async def Search(self, request: pb.SearchRequest, context: Context) -> pb.SearchResponse:
        query = SearchQuery.checked(
            request.query,
            convert.mode_from_pb(request.mode),
            request.top_k,
            convert.filter_from_pb(request.filter),
            request.max_per_document,
        )
        result = await self._ops.search(current_principal(), request.project, query)
        return convert.search_response(result)
