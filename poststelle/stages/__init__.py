"""The pipeline's stages, one module each; `STAGES` maps the names used in configuration."""

from __future__ import annotations

from poststelle.pipeline.stage import StageFunction
from poststelle.stages import (
    analyse,
    channel,
    confirm,
    decide,
    deliver,
    route,
    scan,
    stamp,
    verify,
)

STAGES: dict[str, StageFunction] = {
    "stamp": stamp.run,
    "analyse": analyse.run,
    "scan": scan.run,
    "channel": channel.run,
    "verify": verify.run,
    "decide": decide.run,
    "confirm": confirm.run,
    "route": route.run,
    "deliver": deliver.run,
}
