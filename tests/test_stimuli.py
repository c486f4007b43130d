"""Stimuli: the procedural default, the HvM and manifest loaders, the image-folder store."""
from __future__ import annotations

import ast
import csv
import itertools
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from streams.dead_leaves import dead_leaves
from streams.errors import StimulusError
from streams.hvm_stimuli import hvm_identity, load_hvm_stimulus_set
from streams.image_folder_store import ImageFolderStore, read_image
from streams.image_store import ImageStore
from streams.manifest_stimuli import MANIFEST_COLUMNS, load_manifest_stimulus_set, save_manifest_stimulus_set
from streams.procedural_faces import (
    N_PARAMS,
    canonical_placement,
    composite_faces,
    random_placement,
    render_faces,
    sample_identities,
)
from streams.procedural_stimuli import (
    make_pretraining_images,
    make_pretraining_store,
    make_stimulus_set,
    pretraining_identities,
    stimulus_identities,
)
from streams.stimulus_set import GRAY_ID, GRAY_VALUE

S = 32


@pytest.fixture(scope="module")
def default_set():
    return make_stimulus_set(image_size=S, seed=0)


def _border(img: torch.Tensor) -> torch.Tensor:
    return torch.cat([img[:, 0, :], img[:, -1, :], img[:, :, 0], img[:, :, -1]], dim=1)


# ---------------------------------------------------------------------------------------------------
# procedural default
# ---------------------------------------------------------------------------------------------------


def test_stimulus_set_layout(default_set):
    ss = default_set
    assert ss.identities == tuple(f"face{i:04d}" for i in range(1, 7))
    assert ss.images.dtype == torch.uint8 and tuple(ss.images.shape) == (1 + 6 * 42, 3, S, S)
    assert tuple(ss.choice.shape) == (6,) and tuple(ss.exposure_big.shape) == (6,)
    assert tuple(ss.test_big.shape) == (6, 20) and tuple(ss.test_small.shape) == (6, 20)
    assert ss.n_test == 20 and ss.image_size == S
    assert bool((ss.images[GRAY_ID] == GRAY_VALUE).all())
    used = torch.cat([ss.choice, ss.exposure_big, ss.test_big.flatten(), ss.test_small.flatten()])
    assert sorted(used.tolist()) == list(range(1, len(ss.images)))  # every image used exactly once
    assert tuple(ss.meta["identity_params"].shape) == (6, N_PARAMS)


def test_stimulus_set_deterministic():
    a = make_stimulus_set(n_identities=3, n_test=4, image_size=S, seed=5)
    b = make_stimulus_set(n_identities=3, n_test=4, image_size=S, seed=5)
    c = make_stimulus_set(n_identities=3, n_test=4, image_size=S, seed=6)
    assert torch.equal(a.images, b.images)
    assert torch.equal(a.meta["identity_params"], b.meta["identity_params"])
    assert not torch.equal(a.images, c.images)
    assert not torch.equal(a.meta["identity_params"], c.meta["identity_params"])


def test_test_images_all_differ(default_set):
    ss = default_set
    ids = torch.cat([ss.test_big.flatten(), ss.test_small.flatten()])
    flat = ss.images[ids].flatten(1).float()
    d = torch.cdist(flat, flat)
    d.fill_diagonal_(float("inf"))
    assert float(d.min()) > 0  # no two test images are identical


def test_identities_differ_and_spread_knob():
    ss = make_stimulus_set(n_identities=4, n_test=1, image_size=S, seed=0)
    choices = ss.images[ss.choice].float()
    for i, j in itertools.combinations(range(4), 2):
        assert float((choices[i] - choices[j]).abs().mean()) > 1.0
    params = ss.meta["identity_params"]
    assert float(torch.pdist(params).min()) > 0.5

    def mean_choice_distance(spread: float) -> float:
        s = make_stimulus_set(n_identities=4, n_test=1, image_size=S, seed=0, identity_spread=spread)
        return float(torch.pdist(s.images[s.choice].flatten(1).float()).mean())

    assert mean_choice_distance(0.0) == 0.0  # spread 0: every identity is the mean face
    assert mean_choice_distance(0.25) < mean_choice_distance(1.0)


def test_clean_and_natural_backgrounds(default_set):
    ss = default_set
    for k in torch.cat([ss.choice, ss.exposure_big]).tolist():
        assert bool((_border(ss.images[k]) == GRAY_VALUE).all()), f"image {k} border is not plain gray"
    for k in ss.test_big.flatten().tolist()[:10]:
        assert float(_border(ss.images[k]).float().std()) > 5  # dead-leaves background, not plain

    def face_pixels(k: int) -> int:
        return int((ss.images[k] != GRAY_VALUE).any(dim=0).sum())

    for i in range(ss.n_identities):  # the exposure face is big, the choice face medium
        assert face_pixels(int(ss.exposure_big[i])) > 1.5 * face_pixels(int(ss.choice[i]))


def test_pretraining_identities_disjoint_from_test_identities():
    test = stimulus_identities(6, seed=0)
    pre = pretraining_identities(200, seed=0)
    assert float(torch.cdist(test, pre).min()) > 0.5
    ss = make_stimulus_set(n_identities=6, n_test=1, image_size=S, seed=0)
    assert torch.equal(ss.meta["identity_params"], test)


def test_pretraining_images():
    a = make_pretraining_images(60, S, seed=0, natural_fraction=0.5, clean_fraction=0.25)
    b = make_pretraining_images(60, S, seed=0, natural_fraction=0.5, clean_fraction=0.25)
    c = make_pretraining_images(60, S, seed=1, natural_fraction=0.5, clean_fraction=0.25)
    assert a.dtype == torch.uint8 and tuple(a.shape) == (60, 3, S, S)
    assert torch.equal(a, b) and not torch.equal(a, c)
    # faces on plain gray: most of the border is exactly gray (a face may touch it); never so on dead leaves
    gray_border = torch.tensor([float((_border(x) == GRAY_VALUE).float().mean()) > 0.5 for x in a])
    assert int(gray_border.sum()) == 15  # the clean-background faces
    assert not bool((a[gray_border] == GRAY_VALUE).all())  # ... which do hold a face
    assert not bool(gray_border[:15].all())  # shuffled, not in blocks
    bg_only = make_pretraining_images(8, S, seed=0, natural_fraction=0.0, clean_fraction=0.0)
    assert tuple(bg_only.shape) == (8, 3, S, S)
    with pytest.raises(ValueError):
        make_pretraining_images(8, S, natural_fraction=0.8, clean_fraction=0.5)
    store = make_pretraining_store(10, S, seed=0)
    assert isinstance(store, ImageStore) and len(store) == 10
    assert tuple(store.get(torch.tensor([3, 1])).shape) == (2, 3, S, S)


def test_dead_leaves_and_renderer():
    x = dead_leaves(6, S, torch.Generator().manual_seed(0))
    y = dead_leaves(6, S, torch.Generator().manual_seed(0))
    assert x.dtype == torch.uint8 and tuple(x.shape) == (6, 3, S, S) and torch.equal(x, y)
    assert float(x.float().std(dim=(1, 2, 3)).min()) > 10  # textured, not flat
    g = torch.Generator().manual_seed(0)
    ids = sample_identities(3, g, 0.5)
    rgb, alpha = render_faces(ids, canonical_placement(3, 48, 0.5), 48, supersample=2)
    assert tuple(rgb.shape) == (3, 3, 48, 48) and tuple(alpha.shape) == (3, 1, 48, 48)
    assert float(alpha.min()) >= 0 and float(alpha.max()) <= 1
    assert float(alpha[:, :, 24, 24].min()) > 0.99 and float(alpha[:, :, :3, :].max()) == 0.0
    soft = ((alpha > 0.05) & (alpha < 0.95)).float().mean()
    assert float(soft) > 0  # anti-aliased edges
    # faces partly outside the image are clipped, not wrapped
    pl = random_placement(3, 48, g, 0.6, position_jitter=0.0)
    edge = type(pl)(**{**pl.__dict__, "cx": torch.tensor([1.0, 47.0, 24.0])})
    out = composite_faces(torch.full((3, 3, 48, 48), GRAY_VALUE, dtype=torch.uint8), ids, edge)
    assert bool((out[0, :, :, -1] == GRAY_VALUE).all()) and bool((out[1, :, :, 0] == GRAY_VALUE).all())


# ---------------------------------------------------------------------------------------------------
# HvM loader on a fabricated Brain-Score-format folder
# ---------------------------------------------------------------------------------------------------

HVM_HEADER = ["image_id", "object_name", "variation", "category_name", "image_file_name", "background_id",
              "ty", "tz", "size", "id", "s", "rxz", "ryz", "ryz_semantic", "rxy", "rxy_semantic", "rxz_semantic",
              "filename"]
HVM_PX = 24


def _make_hvm(root: Path, n_faces: int = 8, n_varied: int = 30, n_canonical: int = 3, file_names: bool = True):
    """Fake dicarlo.hvm: Brain-Score columns, object_name numbered from 0, files named <image_id>.png.
    Pixel values encode what the loader must pick: red = round(100 * s), green = face number (1-based),
    blue = variation."""
    img_dir = root / "image_dicarlo_hvm"
    img_dir.mkdir(parents=True)
    rows, k = [], 0
    for face in range(1, n_faces + 1):
        specs = [(0, 1.0)] * n_canonical + [(3 if j % 2 else 6, 0.5 + j / n_varied) for j in range(n_varied)]
        for var, s in specs:
            image_id = f"{k:040x}"
            k += 1
            arr = np.zeros((HVM_PX, HVM_PX, 3), np.uint8)
            arr[..., 0], arr[..., 1], arr[..., 2] = round(100 * s), face, var
            Image.fromarray(arr).save(img_dir / f"{image_id}.png")
            render = f"face{face:04d}_rx+00.000_ry+00.000_rz+00.000_tx+00.000_ty+00.000_s+{s:06.3f}_bg{k}_256x256.png"
            rows.append({"image_id": image_id, "object_name": f"face{face - 1}", "variation": var,
                         "category_name": "Faces", "image_file_name": render if file_names else "",
                         "background_id": f"bg{k}", "ty": 0, "tz": 0, "size": 256, "id": image_id, "s": s,
                         "rxz": 0, "ryz": 0, "ryz_semantic": 0, "rxy": 0, "rxy_semantic": 0, "rxz_semantic": 0,
                         "filename": f"{image_id}.png"})
    rows.append({**rows[0], "image_id": "f" * 40, "object_name": "Apple_Fruit_obj", "category_name": "Fruits",
                 "image_file_name": "Apple_Fruit_obj_s+00.700.png", "filename": "apple.png"})
    csv_path = root / "image_dicarlo_hvm.csv"
    with csv_path.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=HVM_HEADER)
        w.writeheader()
        w.writerows(rows)
    return img_dir, csv_path


def test_hvm_loader_selects_by_scale_and_numbering(tmp_path):
    img_dir, csv_path = _make_hvm(tmp_path)
    ss = load_hvm_stimulus_set(img_dir, n_test=6, image_size=HVM_PX, seed=0)  # CSV found beside the folder
    assert ss.identities == tuple(f"face{i:04d}" for i in range(1, 7))
    assert tuple(ss.test_big.shape) == (6, 6) and ss.images.dtype == torch.uint8
    red, green, blue = (ss.images[:, c, 0, 0].long() for c in range(3))
    for i in range(6):
        ids = torch.cat([ss.choice[i:i + 1], ss.exposure_big[i:i + 1], ss.test_big[i], ss.test_small[i]])
        assert bool((green[ids] == i + 1).all()), "face0001 must hold the face0001_* renders (object_name face0)"
        assert int(blue[ss.choice[i]]) == 0 and int(red[ss.choice[i]]) == 100  # a variation-0 render
        assert bool((blue[torch.cat([ss.test_big[i], ss.test_small[i]])] > 0).all())
        assert int(red[ss.test_small[i]].max()) < int(red[ss.test_big[i]].min())  # small < big in s
        assert int(red[ss.exposure_big[i]]) == int(red[blue > 0][green[blue > 0] == i + 1].max())  # largest s
    sel = ss.meta["selected"]["face0001"]
    assert sel["exposure"] not in sel["test_big"] and len(set(sel["test_big"])) == 6
    assert ss.meta["numbering_conflicts"] == 0
    again = load_hvm_stimulus_set(img_dir, csv_path, n_test=6, image_size=HVM_PX, seed=0)
    other = load_hvm_stimulus_set(img_dir, csv_path, n_test=6, image_size=HVM_PX, seed=1)
    assert torch.equal(ss.images, again.images)
    assert not torch.equal(ss.images, other.images)  # another seed picks other test images
    assert "natural" in ss.meta["backgrounds"]["choice"]
    small = load_hvm_stimulus_set(img_dir, csv_path, n_test=2, image_size=16)
    assert tuple(small.images.shape[1:]) == (3, 16, 16)


def test_hvm_numbering_without_file_names(tmp_path):
    img_dir, csv_path = _make_hvm(tmp_path, file_names=False)
    zero = load_hvm_stimulus_set(img_dir, csv_path, n_test=4, image_size=HVM_PX)  # face2 -> face0003
    assert int(zero.images[zero.choice[2], 1, 0, 0]) == 3
    one = load_hvm_stimulus_set(img_dir, csv_path, n_test=4, image_size=HVM_PX, face_numbering="one_based")
    assert int(one.images[one.choice[2], 1, 0, 0]) == 4  # object face3 is read as face0003
    assert hvm_identity({"object_name": "face0005"}) == ("face0005", False)
    assert hvm_identity({"object_name": "face2", "image_file_name": "face0007_x.png"}) == ("face0007", True)
    assert hvm_identity({"object_name": "Apple_Fruit_obj", "image_file_name": "Apple.png"}) == (None, False)
    assert hvm_identity({"obj": "face0002", "filename": "/a/b/face0002_rx.png"}) == ("face0002", False)


def test_hvm_clean_dir(tmp_path):
    img_dir, csv_path = _make_hvm(tmp_path)
    clean = tmp_path / "clean"
    clean.mkdir()
    for i in range(1, 7):
        for role, v in (("choice", 200), ("exposure", 250)):
            Image.fromarray(np.full((HVM_PX, HVM_PX, 3), v, np.uint8)).save(clean / f"face{i:04d}_{role}.png")
    ss = load_hvm_stimulus_set(img_dir, csv_path, n_test=4, image_size=HVM_PX, clean_dir=clean)
    assert bool((ss.images[ss.choice] == 200).all()) and bool((ss.images[ss.exposure_big] == 250).all())
    (clean / "face0003_exposure.png").unlink()
    with pytest.raises(StimulusError, match="face0003_exposure"):
        load_hvm_stimulus_set(img_dir, csv_path, n_test=4, image_size=HVM_PX, clean_dir=clean)


def test_hvm_errors(tmp_path):
    with pytest.raises(StimulusError, match="not found"):
        load_hvm_stimulus_set(tmp_path / "nope")
    empty_dir = tmp_path / "empty"
    empty_dir.mkdir()
    with pytest.raises(StimulusError, match="no metadata CSV"):
        load_hvm_stimulus_set(empty_dir)
    (empty_dir / "meta.csv").write_text("")
    with pytest.raises(StimulusError, match="empty"):
        load_hvm_stimulus_set(empty_dir)
    (empty_dir / "meta.csv").write_text("image_id,object_name,variation,filename\n")
    with pytest.raises(StimulusError, match="no rows"):
        load_hvm_stimulus_set(empty_dir)
    (empty_dir / "meta.csv").write_text("image_id,object_name,variation,filename\nabc,face0,3,abc.png\n")
    with pytest.raises(StimulusError, match="scale column"):
        load_hvm_stimulus_set(empty_dir)

    img_dir, csv_path = _make_hvm(tmp_path / "hvm", n_varied=12)
    with pytest.raises(StimulusError, match=r"face0001 has 12 renders.*need at least 20 small"):
        load_hvm_stimulus_set(img_dir, csv_path, n_test=20)
    ok = load_hvm_stimulus_set(img_dir, csv_path, n_test=3, image_size=HVM_PX)
    missing = ok.meta["selected"]["face0004"]["test_small"][0]
    (img_dir / f"{missing}.png").unlink()
    with pytest.raises(StimulusError, match=f"id {missing}.*not found"):
        load_hvm_stimulus_set(img_dir, csv_path, n_test=3, image_size=HVM_PX)


# ---------------------------------------------------------------------------------------------------
# manifest format
# ---------------------------------------------------------------------------------------------------


def test_manifest_round_trip(tmp_path):
    ss = make_stimulus_set(n_identities=3, n_test=3, image_size=S, seed=2)
    path = save_manifest_stimulus_set(ss, tmp_path / "set")
    with path.open() as f:
        assert next(csv.reader(f)) == list(MANIFEST_COLUMNS)
    back = load_manifest_stimulus_set(tmp_path / "set", image_size=S)
    assert back.identities == ss.identities
    assert torch.equal(back.images, ss.images)
    for name in ("choice", "exposure_big", "test_big", "test_small"):
        assert torch.equal(getattr(back, name), getattr(ss, name)), name
    assert back.meta["backgrounds"]["face0001"]["test"] == ["natural"]
    resized = load_manifest_stimulus_set(tmp_path / "set", image_size=16)
    assert tuple(resized.images.shape) == (len(ss.images), 3, 16, 16)


def _rows(path: Path) -> list[dict]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def _write_rows(path: Path, rows: list[dict], columns=MANIFEST_COLUMNS) -> None:
    with path.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(columns), extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)


def _first(rows, role, ident="face0001", size=None):
    return next(i for i, r in enumerate(rows) if r["role"] == role and r["identity"] == ident
                and (size is None or r["size"] == size))


def _set(rows, i, **kw):
    rows[i] = {**rows[i], **kw}
    return rows


MANIFEST_CASES = {
    "bad size": (lambda r: _set(r, 0, size="huge"), "size is 'huge'"),
    "bad role": (lambda r: _set(r, 0, role="probe"), "role is 'probe'"),
    "bad background": (lambda r: _set(r, 0, background="blurry"), "background is 'blurry'"),
    "two choices": (lambda r: r + [r[_first(r, "choice")]], "2 choice images"),
    "no choice": (lambda r: [x for x in r if not (x["role"] == "choice" and x["identity"] == "face0002")],
                  "face0002.*0 choice images"),
    "choice not medium": (lambda r: _set(r, _first(r, "choice"), size="big"), "choice image .* expected medium"),
    "no exposure": (lambda r: [x for x in r if not (x["role"] == "exposure" and x["identity"] == "face0001")],
                    "no exposure"),
    "exposure small": (lambda r: _set(r, _first(r, "exposure"), size="small"), "exposure image .* expected big"),
    "medium test": (lambda r: _set(r, _first(r, "test"), size="medium"), "test image .* medium"),
    "unequal sizes": (lambda r: [x for i, x in enumerate(r) if i != _first(r, "test", size="small")],
                      "2 small and 3 big"),
    "unequal identities": (lambda r: [x for i, x in enumerate(r) if i not in (
        _first(r, "test", "face0002", "small"), _first(r, "test", "face0002", "big"))], "same number"),
    "missing file": (lambda r: _set(r, 3, file="gone.png"), "gone.png"),
    "empty file": (lambda r: _set(r, 3, file=""), "empty 'file'"),
    "header only": (lambda r: [], "no rows"),
}


@pytest.mark.parametrize("case", sorted(MANIFEST_CASES))
def test_manifest_errors(tmp_path, case):
    ss = make_stimulus_set(n_identities=2, n_test=3, image_size=16, seed=0)
    path = save_manifest_stimulus_set(ss, tmp_path)
    mutate, message = MANIFEST_CASES[case]
    _write_rows(path, mutate(_rows(path)))
    with pytest.raises(StimulusError, match=message):
        load_manifest_stimulus_set(tmp_path, image_size=16)


def test_manifest_structure_errors(tmp_path):
    with pytest.raises(StimulusError, match="not found"):
        load_manifest_stimulus_set(tmp_path / "nope")
    with pytest.raises(StimulusError, match="manifest not found"):
        load_manifest_stimulus_set(tmp_path)
    (tmp_path / "manifest.csv").write_text("")
    with pytest.raises(StimulusError, match="empty"):
        load_manifest_stimulus_set(tmp_path)
    (tmp_path / "manifest.csv").write_text("file,identity,size\nimg.png,face0001,medium\n")
    with pytest.raises(StimulusError, match="lacks column.*role, background"):
        load_manifest_stimulus_set(tmp_path)
    ss = make_stimulus_set(n_identities=2, n_test=2, image_size=16, seed=0)
    path = save_manifest_stimulus_set(ss, tmp_path / "extra")
    rows = _rows(path)
    rows.append({**rows[_first(rows, "exposure")], "file": rows[_first(rows, "test", size="big")]["file"]})
    _write_rows(path, rows)
    loaded = load_manifest_stimulus_set(tmp_path / "extra", image_size=16)  # a second exposure is allowed
    assert torch.equal(loaded.exposure_big, ss.exposure_big)
    assert loaded.meta["unused_exposure_files"] == {"face0001": [rows[-1]["file"]]}


# ---------------------------------------------------------------------------------------------------
# image-folder store
# ---------------------------------------------------------------------------------------------------


def _save(path: Path, arr: np.ndarray, **kw) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path, **kw)


def test_image_folder_store(tmp_path):
    root = tmp_path / "imgs"
    wide = np.zeros((20, 40, 3), np.uint8)
    wide[:, :10] = (255, 0, 0)
    wide[:, 10:30] = (0, 255, 0)
    wide[:, 30:] = (0, 0, 255)
    _save(root / "b" / "wide.png", wide)
    _save(root / "a.png", np.dstack([np.full((30, 30, 3), 90, np.uint8), np.full((30, 30), 128, np.uint8)]))  # RGBA
    _save(root / "b" / "c" / "photo.JPEG", np.full((50, 60, 3), 200, np.uint8), quality=95)
    _save(root / "gray.jpg", np.full((25, 25), 60, np.uint8))
    (root / "notes.txt").write_text("not an image")
    store = ImageFolderStore(root, 20)
    assert isinstance(store, ImageStore) and len(store) == 4
    assert [p.relative_to(root).as_posix() for p in store.paths] == ["a.png", "b/c/photo.JPEG", "b/wide.png", "gray.jpg"]
    x = store.get(torch.tensor([2, 0, 3, 1]))
    assert x.dtype == torch.uint8 and tuple(x.shape) == (4, 3, 20, 20)
    assert bool((x[0, 1] == 255).all()) and bool((x[0, 0] == 0).all())  # centre crop of the wide image
    assert bool((x[1] == 90).all())  # RGBA -> RGB
    assert int((x[2].float() - 60).abs().max()) <= 2  # grayscale -> 3 channels
    assert int((x[3].float() - 200).abs().max()) <= 2
    assert torch.equal(store.get(torch.tensor([2])), x[:1])
    with pytest.raises(IndexError):
        store.get(torch.tensor([4]))
    assert torch.equal(read_image(root / "b" / "wide.png", 20), x[0])


def test_image_folder_store_list_file(tmp_path):
    root = tmp_path / "root"
    _save(root / "imagenet_raw" / "train" / "n01" / "x.png", np.full((8, 8, 3), 10, np.uint8))
    _save(root / "vgg_face2" / "jpgs" / "train" / "n000002" / "my face.png", np.full((8, 8, 3), 20, np.uint8))
    lst = tmp_path / "img_face_train.txt"
    lst.write_text("# comment\nvgg_face2/jpgs/train/n000002/my face.png 1\n\nimagenet_raw/train/n01/x.png 0\n")
    store = ImageFolderStore(root, 8, list_file=lst)
    assert len(store) == 2
    x = store.get(torch.arange(2))
    assert int(x[0, 0, 0, 0]) == 20 and int(x[1, 0, 0, 0]) == 10  # list order, labels ignored
    lst.write_text("imagenet_raw/train/n01/x.png\nimagenet_raw/train/n01/missing.png 3\n")
    with pytest.raises(StimulusError, match="1 of 2 entries.*missing.png"):
        ImageFolderStore(root, 8, list_file=lst)
    with pytest.raises(StimulusError, match="list file not found"):
        ImageFolderStore(root, 8, list_file=tmp_path / "nope.txt")
    lst.write_text("# nothing\n")
    with pytest.raises(StimulusError, match="lists no images"):
        ImageFolderStore(root, 8, list_file=lst)


def test_image_folder_store_errors(tmp_path):
    with pytest.raises(StimulusError, match="not found"):
        ImageFolderStore(tmp_path / "nope", 8)
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    (tmp_path / "empty" / "sub" / "readme.txt").write_text("x")
    with pytest.raises(StimulusError, match=r"no images .* under .*empty"):
        ImageFolderStore(tmp_path / "empty", 8)
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "broken.png").write_bytes(b"not a png")
    store = ImageFolderStore(bad, 8)
    with pytest.raises(StimulusError, match="cannot decode.*broken.png"):
        store.get(torch.tensor([0]))


def test_streams_modules_do_not_import_engine_packages():
    for path in (Path(__file__).resolve().parents[1] / "streams").glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                assert name.split(".")[0] not in ("algorithms", "lifelong"), f"{path.name} imports {name}"
