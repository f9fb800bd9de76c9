"""RetrievalService servicer: proto in, domain call, proto out."""

from __future__ import annotations

from projectqa.v1 import retrieval_pb2 as pb
from projectqa.v1 import retrieval_pb2_grpc

from ..interceptors import current_principal
from ..retrieval.files import FileSearch, file_query
from ..retrieval.ops import RetrievalOps
from ..retrieval.query import SearchQuery
from . import Context
from . import convert_retrieval as convert


class RetrievalServicer(retrieval_pb2_grpc.RetrievalServiceServicer):
    def __init__(self, ops: RetrievalOps, files: FileSearch | None = None) -> None:
        self._ops = ops
        self._files = files or FileSearch(ops)

    async def Search(self, request: pb.SearchRequest, context: Context) -> pb.SearchResponse:
        by_file = convert.by_file(request.group_by)
        query = SearchQuery.checked(
            request.query,
            convert.mode_from_pb(request.mode),
            request.top_k,
            convert.filter_from_pb(request.filter),
            request.max_per_document,
        )
        if by_file:
            found = await self._files.search(
                current_principal(), request.project, file_query(query)
            )
            return convert.file_search_response(found)
        result = await self._ops.search(current_principal(), request.project, query)
        return convert.search_response(result)
