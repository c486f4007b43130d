"""The ImageNet-subset list loader (lifelong.md §2.3) on a fabricated mini ImageNet tree."""
import numpy as np
import pytest
import torch
from PIL import Image
from torchvision import transforms

from streams.errors import StimulusError
from streams.imagenet_subset import default_resize, load_imagenet_subset, read_resized_crop

# (wnid, ImageNet label): deliberately listed in non-sorted label order, as in the authors' file
CLASSES = [("n13037406", 993), ("n01443537", 1), ("n02085620", 151)]


def _jpeg(path, size, seed):
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 256, size=(size[1], size[0], 3), dtype=np.uint8)).save(path, "JPEG")


def _tree(root, n_train=3, n_val=2):
    """Images under root/train/<wnid>/ and root/val/<wnid>/; returns the list lines in the authors' format."""
    lines = []
    for c, (wnid, label) in enumerate(CLASSES):
        for i in range(n_train):
            rel = f"train/{wnid}/{wnid}_{i}.JPEG"
            _jpeg(root / rel, (24 + 3 * i, 18), seed=100 * c + i)
            lines.append(f"{rel} {label}")
    for c, (wnid, label) in enumerate(CLASSES):
        for i in range(n_val):
            rel = f"val/{wnid}/ILSVRC2012_val_{c * 10 + i + 1:08d}.JPEG"
            _jpeg(root / rel, (18, 30), seed=1000 + 100 * c + i)
            lines.append(f"{rel} {label}")
    return lines


def _write(tmp_path, lines):
    list_file = tmp_path / "part_train_val_labeled.txt"
    list_file.write_text("\n".join(lines) + "\n")
    return list_file


@pytest.fixture
def tree(tmp_path):
    root = tmp_path / "imagenet"
    return root, _tree(root)


def test_loads_splits_and_remaps_labels(tmp_path, tree):
    root, lines = tree
    data = load_imagenet_subset(root, _write(tmp_path, lines), image_size=14)
    # sorted original indices 1 < 151 < 993 -> 0, 1, 2
    assert data.class_names == ("n01443537", "n02085620", "n13037406")
    assert data.train_labels.tolist() == [2, 2, 2, 0, 0, 0, 1, 1, 1]
    assert data.test_labels.tolist() == [2, 2, 0, 0, 1, 1]
    assert data.train_images.shape == (9, 3, 14, 14) and data.train_images.dtype == torch.uint8
    assert data.test_images.shape == (6, 3, 14, 14)
    # images are in list order: the first test image is the first val line's file
    first_val = root / lines[9].split(" ")[0]
    assert torch.equal(data.test_images[0], read_resized_crop(first_val, default_resize(14), 14))


def test_preprocessing_matches_the_original_resize_and_centre_crop(tmp_path):
    assert default_resize(112) == 128 and default_resize(14) == 16
    # wide, tall, exact, upscaled, and odd margins (155 - 112 = 43: torchvision rounds the offset 21.5 to 22)
    for size in [(171, 130), (130, 171), (128, 128), (90, 100), (155, 128), (128, 155)]:
        path = tmp_path / f"img_{size[0]}x{size[1]}.JPEG"
        _jpeg(path, size, seed=size[0])
        ours = read_resized_crop(path, 128, 112)
        reference = transforms.Compose([transforms.Resize(128), transforms.CenterCrop(112)])(
            Image.open(path).convert("RGB")
        )
        assert ours.shape == (3, 112, 112)
        assert torch.equal(ours, torch.from_numpy(np.array(reference)).permute(2, 0, 1))


def test_default_size_is_128_then_112(tmp_path):
    root = tmp_path / "imagenet"
    lines = []
    for wnid, label in CLASSES[:2]:
        for split in ("train", "train", "val"):
            rel = f"{split}/{wnid}/{wnid}_{len(lines)}.JPEG"
            _jpeg(root / rel, (150, 130), seed=len(lines))
            lines.append(f"{rel} {label}")
    data = load_imagenet_subset(root, _write(tmp_path, lines))
    assert data.image_size == 112 and "128 -> 112" in data.source


def test_limit_per_class_keeps_the_first_lines(tmp_path, tree):
    root, lines = tree
    list_file = _write(tmp_path, lines)
    full = load_imagenet_subset(root, list_file, image_size=8)
    small = load_imagenet_subset(root, list_file, image_size=8, limit_per_class=2, limit_test_per_class=1)
    assert small.train_labels.tolist() == [2, 2, 0, 0, 1, 1]
    assert small.test_labels.tolist() == [2, 0, 1]
    assert torch.equal(small.train_images[:2], full.train_images[:2])
    assert torch.equal(small.train_images[2:4], full.train_images[3:5])
    with pytest.raises(ValueError, match="limit_per_class"):
        load_imagenet_subset(root, list_file, image_size=8, limit_per_class=0)


@pytest.mark.parametrize(
    "index,replacement,message",
    [
        (2, "train/n13037406/n13037406_2.JPEG  993", "one space"),
        (2, "train/n13037406/n13037406_2.JPEG\t993", "one space"),
        (2, "train/n13037406/n13037406_2.JPEG", "one space"),
        (2, "train/n13037406/n13037406_2.JPEG x7", "non-negative integer"),
        (2, "train/n13037406/n13037406_2.JPEG 1000", "not an ImageNet index"),
        (2, "train/n13037406/n13037406_2.JPEG 994", "label 993"),                   # wnid with two labels
        (4, "train/n09999999/n09999999_0.JPEG 993", "gives it to class n13037406"),  # label with two wnids
        (2, "test/n13037406/n13037406_2.JPEG 993", "'train/<wnid>/<file>'"),
        (2, "train/n13037406_2.JPEG 993", "'train/<wnid>/<file>'"),
        (2, "../train/n13037406/n13037406_2.JPEG 993", "'train/<wnid>/<file>'"),
        (2, "train/../n13037406_2.JPEG 993", "'train/<wnid>/<file>'"),
        (2, "/train/n13037406/x.JPEG 993", "'train/<wnid>/<file>'"),
        (2, "train/n13037406/n13037406_0.JPEG 993", "listed twice (first on line 1)"),
        (2, "train/n13037406/gone.JPEG 993", "image file not found"),
    ],
)
def test_bad_list_lines_name_file_and_line(tmp_path, tree, index, replacement, message):
    root, lines = tree
    lines[index] = replacement
    list_file = _write(tmp_path, lines)
    with pytest.raises(StimulusError) as err:
        load_imagenet_subset(root, list_file, image_size=8)
    assert f"{list_file}, line {index + 1}:" in str(err.value)
    assert message in str(err.value)


def test_test_class_without_training_images(tmp_path, tree):
    root, lines = tree
    kept = [line for line in lines if not line.startswith("train/n02085620/")]
    list_file = _write(tmp_path, kept)
    with pytest.raises(StimulusError, match=r"line 11: class n02085620 \(label 151\) has test images but no training"):
        load_imagenet_subset(root, list_file, image_size=8)


def test_undecodable_image(tmp_path, tree):
    root, lines = tree
    (root / lines[7].split(" ")[0]).write_bytes(b"not a jpeg")
    list_file = _write(tmp_path, lines)
    with pytest.raises(StimulusError, match=r"line 8: cannot decode image"):
        load_imagenet_subset(root, list_file, image_size=8)


def test_missing_split_class_or_paths(tmp_path, tree):
    root, lines = tree
    with pytest.raises(StimulusError, match="no test images"):
        load_imagenet_subset(root, _write(tmp_path, lines[:9]), image_size=8)
    with pytest.raises(StimulusError, match="no training images"):
        load_imagenet_subset(root, _write(tmp_path, lines[9:]), image_size=8)
    one_class = [line for line in lines if "n13037406" in line]
    with pytest.raises(StimulusError, match="single class"):
        load_imagenet_subset(root, _write(tmp_path, one_class), image_size=8)
    with pytest.raises(StimulusError, match="list not found"):
        load_imagenet_subset(root, tmp_path / "nope.txt", image_size=8)
    with pytest.raises(StimulusError, match="root not found"):
        load_imagenet_subset(tmp_path / "nope", _write(tmp_path, lines), image_size=8)
    with pytest.raises(ValueError, match="resize_to"):
        load_imagenet_subset(root, _write(tmp_path, lines), image_size=8, resize_to=7)
