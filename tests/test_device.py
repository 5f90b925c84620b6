"""One ``--device`` option: declared once, one default, one check and one rule that resolves ``auto``."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from typer.testing import CliRunner

from posekit.cli.app import app
from posekit.cli.options import Group, flags_of
from posekit.core.device import DeviceOptions
from posekit.core.errors import ConfigError
from posekit.estimators.base import EstimatorConfig
from posekit.estimators.onnx_pose import execution_providers
from posekit.workflows.unik.config import TrainConfig, resolve_config

HERE = "cuda:0" if torch.cuda.is_available() else "cpu"


def test_auto_is_the_default_and_resolves_to_the_gpu_only_when_one_is_visible():
    assert DeviceOptions().device == "auto"
    assert DeviceOptions().resolve() == HERE
    assert DeviceOptions("cpu").resolve() == "cpu"


@pytest.mark.parametrize("value", ["gpu", "cuda:x", "cpu:0", ""])
def test_a_malformed_device_is_refused_in_one_line_naming_it_and_the_accepted_forms(value):
    with pytest.raises(ConfigError) as caught:
        DeviceOptions(value)
    message = str(caught.value)
    assert "\n" not in message and repr(value) in message and "auto, cpu, cuda or cuda:N" in message


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without a CUDA GPU")
def test_a_gpu_this_machine_lacks_is_refused_before_any_work():
    with pytest.raises(ConfigError, match="no CUDA GPU is visible"):
        DeviceOptions("cuda:0")


@pytest.mark.parametrize("options", [EstimatorConfig, TrainConfig])
def test_extraction_and_training_take_the_one_declaration(options):
    assert issubclass(options, DeviceOptions)
    (device,) = [f for f in dataclasses.fields(options) if f.name == "device"]
    (declared,) = dataclasses.fields(DeviceOptions)
    assert (device.default, device.metadata) == (declared.default, declared.metadata)
    (flag,) = [f for f in flags_of(Group(options)) if f.param == "device"]
    assert flag.default == "auto"


def test_training_config_files_check_the_device_like_the_flag(tmp_path):
    config = tmp_path / "run.yaml"
    config.write_text("device: gpu\n")
    with pytest.raises(ConfigError, match=r"unknown --device 'gpu'"):
        resolve_config({"data": str(tmp_path)}, config)
    assert resolve_config({"data": str(tmp_path)}).device == "auto"


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without a CUDA GPU")
def test_onnx_experts_under_auto_run_on_the_cpu_of_a_machine_without_a_gpu():
    assert execution_providers(DeviceOptions()) == ["CPUExecutionProvider"]


@pytest.mark.parametrize(
    "command",
    [["eval", "unik", "--data", ".", "--ckpt", "x.pt"], ["predict", "unik", ".", "--ckpt", "x.pt"]],
)
def test_unik_eval_and_predict_refuse_a_bad_device_in_one_line(command):
    result = CliRunner().invoke(app, [*command, "--device", "gpu"])
    assert result.exit_code == 2, result.output
    assert "unknown --device 'gpu'" in result.output and "Traceback" not in result.output
