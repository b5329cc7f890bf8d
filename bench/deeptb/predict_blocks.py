"""Run inside DeePTB's own environment: predict the blocks of a DeePTB dataset with a trained
DeePTB checkpoint and write them in the dataset's own layout (one group per frame, one dataset
``i_j_Rx_Ry_Rz`` per block, eV), so that slem-dft scores both tools with one MAE definition.

    DPTB_PYTHON predict_blocks.py CHECKPOINT INPUT_JSON DATA_ROOT PREFIX OUT.h5
"""

import json
import sys

import h5py
import torch
from dptb.data import AtomicData
from dptb.data.build import build_dataset
from dptb.data.interfaces.ham_to_feature import feature_to_block
from dptb.nn.build import build_model
from dptb.utils.argcheck import collect_cutoffs, normalize


def main(checkpoint: str, input_json: str, root: str, prefix: str, out: str) -> None:
    with open(input_json) as fh:
        jdata = normalize(json.load(fh))
    model = build_model(checkpoint=checkpoint)
    model.eval()
    dataset = build_dataset(
        **collect_cutoffs(jdata), root=root, prefix=prefix, get_Hamiltonian=True, **jdata["common_options"]
    )
    with h5py.File(out, "w") as f, torch.no_grad():
        for frame in range(len(dataset)):
            data = AtomicData.to_AtomicDataDict(dataset[frame])
            pred = model(data)
            blocks = feature_to_block(pred, model.idp)
            group = f.create_group(str(frame))
            for key, block in blocks.items():
                group.create_dataset(key, data=block.double().numpy())


if __name__ == "__main__":
    main(*sys.argv[1:6])
