"""IngestionService servicer: proto in, domain call, proto out."""

from __future__ import annotations

from collections.abc import AsyncIterator

from projectqa.v1 import ingestion_pb2 as pb
from projectqa.v1 import ingestion_pb2_grpc

from ..errors import InvalidArgument
from ..ingestion.ops import IngestionOps
from ..interceptors import current_principal
from ..models import RunMode
from . import Context
from . import convert_ingestion as convert

MODE_FROM_PB = {
    pb.INGESTION_MODE_UNSPECIFIED: RunMode.INCREMENTAL,
    pb.INGESTION_MODE_FULL: RunMode.FULL,
    pb.INGESTION_MODE_INCREMENTAL: RunMode.INCREMENTAL,
}


class IngestionServicer(ingestion_pb2_grpc.IngestionServiceServicer):
    def __init__(self, ops: IngestionOps) -> None:
        self._ops = ops

    async def StartIngestion(
        self, request: pb.StartIngestionRequest, context: Context
    ) -> pb.StartIngestionResponse:
        mode = MODE_FROM_PB.get(request.mode)
        if mode is None:
            raise InvalidArgument("mode", f"unknown ingestion mode {request.mode}")
        runs = await self._ops.start(current_principal(), request.project, request.connector, mode)
        return pb.StartIngestionResponse(runs=map(convert.run, runs))

    async def WatchIngestion(
        self, request: pb.WatchIngestionRequest, context: Context
    ) -> AsyncIterator[pb.IngestionEvent]:
        sent_warnings = 0
        async for snapshot in self._ops.watch(
            current_principal(), request.run_id, request.interval_seconds
        ):
            event, sent_warnings = convert.event(snapshot, sent_warnings)
            yield event

    async def GetIngestionRun(
        self, request: pb.GetIngestionRunRequest, context: Context
    ) -> pb.GetIngestionRunResponse:
        run = await self._ops.get(current_principal(), request.run_id)
        return pb.GetIngestionRunResponse(run=convert.run(run))

    async def ListIngestionRuns(
        self, request: pb.ListIngestionRunsRequest, context: Context
    ) -> pb.ListIngestionRunsResponse:
        runs, token = await self._ops.list(
            current_principal(),
            request.project,
            request.connector,
            request.page_size,
            request.page_token,
        )
        return pb.ListIngestionRunsResponse(runs=map(convert.run, runs), next_page_token=token)

    async def CancelIngestion(
        self, request: pb.CancelIngestionRequest, context: Context
    ) -> pb.CancelIngestionResponse:
        run = await self._ops.cancel(current_principal(), request.run_id)
        return pb.CancelIngestionResponse(run=convert.run(run))

    async def RebuildIndexes(
        self, request: pb.RebuildIndexesRequest, context: Context
    ) -> pb.RebuildIndexesResponse:
        report = await self._ops.rebuild(current_principal(), request.project)
        return pb.RebuildIndexesResponse(
            generation=report.generation,
            chunks=report.chunks,
            vectors=report.vectors,
            dense_kind=report.dense_kind,
            seconds=report.seconds,
        )
