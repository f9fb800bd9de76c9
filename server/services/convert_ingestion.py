"""Ingestion records to protobuf messages."""

from __future__ import annotations

from projectqa.v1 import ingestion_pb2 as pb

from ..ingestion.progress import ProgressSnapshot
from ..models import IngestionRun, RunMode, RunStatus
from .convert import timestamp

MODE_TO_PB = {
    RunMode.FULL: pb.INGESTION_MODE_FULL,
    RunMode.INCREMENTAL: pb.INGESTION_MODE_INCREMENTAL,
}
STATUS_TO_PB = {
    RunStatus.QUEUED: pb.INGESTION_STATUS_QUEUED,
    RunStatus.RUNNING: pb.INGESTION_STATUS_RUNNING,
    RunStatus.SUCCEEDED: pb.INGESTION_STATUS_SUCCEEDED,
    RunStatus.FAILED: pb.INGESTION_STATUS_FAILED,
    RunStatus.CANCELLED: pb.INGESTION_STATUS_CANCELLED,
}


def warning(item: dict[str, str]) -> pb.IngestionWarning:
    return pb.IngestionWarning(document_key=item["key"], message=item["message"])


def run(r: IngestionRun) -> pb.IngestionRun:
    return pb.IngestionRun(
        id=r.id,
        project_id=r.project_id,
        connector_id=r.connector_id,
        mode=MODE_TO_PB[r.mode],
        status=STATUS_TO_PB[r.status],
        trigger=str(r.trigger),
        phase=r.phase,
        counts=pb.IngestionCounts(
            documents_seen=r.documents_seen,
            documents_changed=r.documents_changed,
            documents_unchanged=r.documents_unchanged,
            documents_deleted=r.documents_deleted,
            documents_failed=r.documents_failed,
            chunks_written=r.chunks_written,
            chunks_embedded=r.chunks_embedded,
            chunks_cached=r.chunks_cached,
            chunks_pending_embedding=r.chunks_pending_embedding,
        ),
        revision=r.revision,
        warnings=map(warning, r.warnings),
        warning_count=r.warning_count,
        error=r.error,
        create_time=timestamp(r.created_at),
        start_time=timestamp(r.started_at),
        finish_time=timestamp(r.finished_at),
        worker=r.owner,
        attempts=r.attempts,
    )


def event(snapshot: ProgressSnapshot, sent_warnings: int) -> tuple[pb.IngestionEvent, int]:
    """The progress event, carrying the kept warnings not sent yet; and the new sent count."""
    kept = snapshot.run.warnings
    return (
        pb.IngestionEvent(
            run=run(snapshot.run),
            documents_done=snapshot.documents_done,
            documents_total=snapshot.documents_total,
            chunks_done=snapshot.chunks_done,
            documents_per_second=snapshot.documents_per_second,
            chunks_per_second=snapshot.chunks_per_second,
            eta_seconds=snapshot.eta_seconds,
            new_warnings=map(warning, kept[sent_warnings:]),
        ),
        max(sent_warnings, len(kept)),
    )
