"""What both dock widgets share: the device list, the model choice, the mark of our results."""

from __future__ import annotations

from pathlib import Path

from magicgui.widgets import ComboBox, FileEdit

RESULT_KEY = "napari-colorgan"  # a layer's metadata key: the layer is a result of ours


def is_result(layer) -> bool:
    """True for a layer this plugin made (a colourisation is not colour truth)."""
    return RESULT_KEY in layer.metadata


def available_devices() -> list[str]:
    """``auto`` plus the devices present on this machine."""
    import torch

    devices = ["auto", "cpu"]
    devices += [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        devices.append("mps")
    return devices


class ModelChoice:
    """A dropdown of the shipped models and of weights files, with a picker that adds one.

    The dropdown's value is the model a run uses, always: a weights file picked
    (or restored from the last session) becomes a choice of its own, shown by its
    file name and folder, and is selected; the picker only adds files.

    Parameters
    ----------
    label : str
        The dropdown's label.
    file_label : str
        The picker's label.
    """

    def __init__(self, label: str, file_label: str):
        from .models.registry import list_models

        self.names = list_models()
        self._files: list[str] = []
        self.combo = ComboBox(label=label, choices=self._choices())
        self.combo.value = "general" if "general" in self.names else self.names[0]
        self.picker = FileEdit(label=file_label, filter="*.safetensors", value="")
        self.picker.changed.connect(self._picked)

    @property
    def value(self) -> str:
        """A shipped model's name or a weights file's path."""
        return self.combo.value

    @property
    def is_file(self) -> bool:
        """True when the selected model is a weights file, not a shipped name."""
        return self.combo.value in self._files

    def select(self, model: str) -> None:
        """Show ``model`` (a name or a path) as the selected choice, adding a path."""
        if model not in self.names and model not in self._files:
            self._files.append(model)
            self.combo.choices = self._choices()
        self.combo.value = model

    def _choices(self) -> list[tuple[str, str]]:
        files = [(f"{Path(p).name}  ({Path(p).parent})", p) for p in self._files]
        return [(name, name) for name in self.names] + files

    def _picked(self, path) -> None:
        text = str(path)
        if text not in ("", "."):
            self.select(str(Path(text).expanduser().resolve()))
