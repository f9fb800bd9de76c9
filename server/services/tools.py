"""ToolsService servicer: proto in, domain call, proto out."""

from __future__ import annotations

import dataclasses

from projectqa.v1 import tools_pb2 as pb
from projectqa.v1 import tools_pb2_grpc

from ..interceptors import current_principal
from ..retrieval.query import SearchMode, SearchQuery
from ..tools.grep import GrepQuery
from ..tools.ops import ToolsOps
from . import Context, convert_retrieval
from . import convert_tools as convert
from .convert import struct_to_dict


class ToolsServicer(tools_pb2_grpc.ToolsServiceServicer):
    def __init__(self, ops: ToolsOps) -> None:
        self._ops = ops

    async def ListTools(
        self, request: pb.ListToolsRequest, context: Context
    ) -> pb.ListToolsResponse:
        entries = await self._ops.list(current_principal(), request.project)
        return pb.ListToolsResponse(tools=map(convert.tool, entries))

    async def InvokeTool(
        self, request: pb.InvokeToolRequest, context: Context
    ) -> pb.InvokeToolResponse:
        arguments = struct_to_dict(request.arguments, "arguments")
        result = await self._ops.invoke(
            current_principal(), request.project, request.tool, arguments
        )
        return convert.invoke_response(result)

    async def Grep(self, request: pb.GrepRequest, context: Context) -> pb.GrepResponse:
        project = await self._ops.project(current_principal(), request.project)
        query = GrepQuery(
            pattern=request.pattern,
            fixed_strings=request.fixed_strings,
            ignore_case=request.ignore_case,
            path_globs=tuple(request.path_globs),
            context_lines=request.context_lines,
            max_matches=request.max_matches,
            connector=request.connector,
        )
        return convert.grep_response(await self._ops.grep(project, query))

    async def OpenFile(self, request: pb.OpenFileRequest, context: Context) -> pb.OpenFileResponse:
        project = await self._ops.project(current_principal(), request.project)
        opened = await self._ops.open_file(
            project, request.path, request.start_line, request.end_line, request.connector
        )
        return convert.open_file_response(opened)

    async def KeywordSearch(
        self, request: pb.KeywordSearchRequest, context: Context
    ) -> pb.KeywordSearchResponse:
        query = SearchQuery.checked(
            request.query,
            SearchMode.KEYWORD,
            request.top_k,
            convert_retrieval.filter_from_pb(request.filter),
        )
        project = await self._ops.project(current_principal(), request.project)
        result = await self._ops.keyword_search(project, query)
        return pb.KeywordSearchResponse(
            hits=map(convert_retrieval.hit, result.hits),
            index_status=convert_retrieval.index_status(result.status),
        )

    async def FindSymbol(
        self, request: pb.FindSymbolRequest, context: Context
    ) -> pb.FindSymbolResponse:
        project = await self._ops.project(current_principal(), request.project)
        found = await self._ops.find_symbol(
            project, request.name, request.exact, tuple(request.kinds), request.limit
        )
        return pb.FindSymbolResponse(symbols=map(convert.symbol, found))

    async def GetProjectMetadata(
        self, request: pb.GetProjectMetadataRequest, context: Context
    ) -> pb.GetProjectMetadataResponse:
        project = await self._ops.project(current_principal(), request.project)
        return convert.metadata_response(await self._ops.metadata(project))

    async def GetIndexStatus(
        self, request: pb.GetIndexStatusRequest, context: Context
    ) -> pb.GetIndexStatusResponse:
        project = await self._ops.project(current_principal(), request.project)
        status = await self._ops.index_status(project)
        return pb.GetIndexStatusResponse(index_status=convert_retrieval.index_status(status))

    async def ListFiles(
        self, request: pb.ListFilesRequest, context: Context
    ) -> pb.ListFilesResponse:
        project = await self._ops.project(current_principal(), request.project)
        page = await self._ops.list_files(
            project, request.prefix, request.page_size, request.page_token
        )
        return pb.ListFilesResponse(
            files=(pb.IndexedFile(**dataclasses.asdict(f)) for f in page.files),
            next_page_token=page.next_page_token,
        )
