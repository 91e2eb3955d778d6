"""Three training steps at a global batch of 4, in one process or under torchrun.

Run by tests/test_train.py; writes the losses and the generator's weights to argv[1].
"""

import sys

import skimage.data
import torch
import torch.distributed as dist

from napari_colorgan.train.trainer import TrainConfig, Trainer

if __name__ == "__main__":
    distributed = "WORLD_SIZE" in __import__("os").environ
    if distributed:
        dist.init_process_group("gloo")
    image = skimage.data.astronaut().astype("float32") / 255
    # float32: the check is that averaged gradients equal the whole batch, to 1e-4
    config = TrainConfig(
        steps=3, warmup=1, r1_every=1, batch=4, patch=32, seed=0, log_every=1, precision="float32"
    )
    trainer = Trainer(config, [image])
    losses = [list(trainer.train_step().values()) for _ in range(3)]
    if trainer.rank == 0:
        params = {k: v.clone() for k, v in trainer.G.state_dict().items()}
        record = {"world": trainer.world, "losses": sum(losses, []), "params": params}
        torch.save(record, sys.argv[1])
    if distributed:
        dist.barrier()  # as the CLI does: no rank is torn down while rank 0 saves
        dist.destroy_process_group()
