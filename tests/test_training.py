"""The training pipeline on real FER2013 faces: loaders, registry, a short run, export, metrics."""

from __future__ import annotations

import gzip
import json

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="training tests need the 'train' extra (torch)")

from training import train as train_mod  # noqa: E402
from training.data import SPLITS, csv_bytes, load_fer2013, write_image_folder  # noqa: E402
from training.evaluate import evaluate, load_predictor, tta_views  # noqa: E402
from training.export import export_onnx, parity, training_commands  # noqa: E402
from training.metrics import ci95, report  # noqa: E402
from training.models import count_params, create_model, list_models  # noqa: E402


def _small(fer2013, per_split: int = 40):
    return {name: fer2013[name].take(slice(0, per_split)) for name in SPLITS}


def test_csv_has_the_documented_counts(fer2013):
    counts = {name: np.bincount(fer2013[name].labels, minlength=7).tolist() for name in SPLITS}
    assert counts["Training"] == [3995, 436, 4097, 7215, 4830, 3171, 4965]
    assert counts["PublicTest"] == [467, 56, 496, 895, 653, 415, 607]
    assert counts["PrivateTest"] == [491, 55, 528, 879, 594, 416, 626]
    assert fer2013["Training"].faces.shape == (28709, 48, 48)
    assert fer2013["Training"].faces.dtype == np.uint8


def test_plain_gz_and_folder_layouts_give_the_same_arrays(fer2013, tmp_path):
    small = _small(fer2013)
    raw = csv_bytes(small)
    (tmp_path / "fer2013.csv").write_bytes(raw)
    with gzip.open(tmp_path / "fer2013.csv.gz", "wb") as handle:
        handle.write(raw)
    write_image_folder(small, tmp_path / "folder")
    for source in ("fer2013.csv", "fer2013.csv.gz", "folder"):
        loaded = load_fer2013(tmp_path / source)
        for name in SPLITS:
            # The folder layout groups faces by class: compare as multisets of (label, face).
            order = np.lexsort(
                (loaded[name].faces.reshape(len(loaded[name]), -1).sum(1), loaded[name].labels)
            )
            expect = np.lexsort((small[name].faces.reshape(40, -1).sum(1), small[name].labels))
            np.testing.assert_array_equal(loaded[name].labels[order], small[name].labels[expect])
            np.testing.assert_array_equal(loaded[name].faces[order], small[name].faces[expect])


def test_csv_loader_rejects_a_file_that_is_not_fer2013(tmp_path):
    bad = tmp_path / "other.csv"
    bad.write_text("a,b,c\n1,2,3\n")
    with pytest.raises(ValueError, match="not a FER2013 CSV"):
        load_fer2013(bad)


@pytest.mark.parametrize(
    "name,kwargs", [("seed_cnn", {}), ("resnet18", {"width": 8}), ("vgg_bn", {"width": 8})]
)
def test_registry_models_map_faces_to_seven_logits(name, kwargs):
    model = create_model(name, **kwargs).eval()
    with torch.no_grad():
        out = model(torch.rand(3, 1, 48, 48))
    assert out.shape == (3, 7)
    assert count_params(model) > 10_000
    assert name in list_models()


def test_unknown_model_name_lists_the_registered_ones():
    with pytest.raises(KeyError, match="vgg_bn"):
        create_model("nope")


def _small_csv(fer2013, tmp_path, n: int):
    """The first ``n`` faces of every split as a Kaggle CSV: a training run of seconds on real faces."""
    path = tmp_path / "small.csv"
    path.write_bytes(csv_bytes({name: fer2013[name].take(slice(0, n)) for name in SPLITS}))
    return path


def test_short_training_run_lowers_the_loss_and_resumes(fer2013, tmp_path):
    csv_path = _small_csv(fer2013, tmp_path, 384)
    argv = [
        "--data",
        str(csv_path),
        "--model",
        "vgg_bn",
        "--model-arg",
        "width=8",
        "--epochs",
        "6",
        "--batch-size",
        "64",
        "--lr",
        "0.05",
        "--out",
        str(tmp_path / "run"),
        "--threads",
        "2",
    ]
    train_mod.main(argv)
    rows = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert len(rows) == 6
    assert rows[-1]["train_loss"] < rows[0]["train_loss"] - 0.05
    assert (tmp_path / "run" / "best.pt").exists()
    # --resume on a finished run reloads the saved state and trains no further epoch
    train_mod.main(["--out", str(tmp_path / "run"), "--resume"])
    assert len((tmp_path / "run" / "log.jsonl").read_text().splitlines()) == 6
    model, state = train_mod.load_checkpoint(tmp_path / "run" / "best.pt")
    assert state["val_split"] == "PublicTest"
    # --init: a fresh schedule from those weights starts where the first run ended, not from scratch
    more = {"--epochs": "1", "--out": str(tmp_path / "more"), "--init": str(tmp_path / "run" / "best.pt")}
    train_mod.main([*argv, *(item for pair in more.items() for item in pair)])  # later flags win
    first = json.loads((tmp_path / "more" / "log.jsonl").read_text().splitlines()[0])
    assert first["train_loss"] < rows[0]["train_loss"] - 0.05
    # the model card's recipe names both stages, in order
    recipe = training_commands(tmp_path / "more")
    assert recipe.index(str(tmp_path / "run")) < recipe.index("--init") and recipe.count(" && ") == 1
    assert isinstance(model, torch.nn.Module)


def test_minutes_budget_sets_the_epochs_and_resume_keeps_them(fer2013, tmp_path):
    csv_path = _small_csv(fer2013, tmp_path, 256)
    run = tmp_path / "run"
    argv = ["--data", str(csv_path), "--model", "vgg_bn", "--model-arg", "width=8", "--batch-size", "64"]
    train_mod.main([*argv, "--minutes", "0.05", "--out", str(run), "--threads", "2"])
    saved = json.loads((run / "args.json").read_text())["argv"]
    epochs = int(saved[saved.index("--epochs") + 1])
    assert 1 <= epochs < 60  # timed, not the default
    assert len((run / "log.jsonl").read_text().splitlines()) == epochs
    train_mod.main(["--out", str(run), "--resume"])  # the same schedule: nothing left to train
    assert len((run / "log.jsonl").read_text().splitlines()) == epochs


def test_onnx_export_matches_torch(fer2013, tmp_path):
    torch.manual_seed(0)
    model = create_model("vgg_bn", width=8).eval()
    path = tmp_path / "m.onnx"
    export_onnx(model, path)
    assert parity(model, path, fer2013["PrivateTest"].faces[:64]) < 1e-4
    probs = load_predictor(path)(fer2013["PrivateTest"].faces[:5])
    assert probs.shape == (5, 7)
    np.testing.assert_allclose(probs.sum(1), 1.0, atol=1e-5)


def test_metrics_against_hand_checked_cases():
    labels = np.array([0, 0, 1, 1, 1, 2])
    preds = np.array([0, 1, 1, 1, 2, 2])
    rep = report(labels, preds)
    assert rep.top1 == pytest.approx(4 / 6)
    assert rep.recall["Angry"] == pytest.approx(0.5)
    assert rep.recall["Disgust"] == pytest.approx(2 / 3)
    assert rep.precision["Disgust"] == pytest.approx(2 / 3)
    assert rep.precision["Fear"] == pytest.approx(0.5)
    # F1: Angry 2/3, Disgust 2/3, Fear 2/3 -> macro over present classes = 2/3
    assert rep.macro_f1 == pytest.approx(2 / 3)
    assert rep.confusion[1] == [0, 2, 1, 0, 0, 0, 0]
    assert ci95(0.7, 3589) == pytest.approx(0.0150, abs=2e-4)


def test_tta_views():
    faces = np.arange(2 * 48 * 48, dtype=np.uint8).reshape(2, 48, 48)
    assert len(tta_views(faces, "none")) == 1
    flip = tta_views(faces, "flip")
    np.testing.assert_array_equal(flip[1][:, :, 0], faces[:, :, -1])
    ten = tta_views(faces, "tencrop")
    assert len(ten) == 10 and all(v.shape == faces.shape for v in ten)


def test_shipped_model_beats_a_floor_on_privatetest(fer2013):
    """A fixed slice of PrivateTest: a broken or untrained model lands near 25% (majority class)."""
    from fer_overlay.classify import default_model_path

    test = fer2013["PrivateTest"].take(slice(0, 1000))
    rep = evaluate(load_predictor(default_model_path()), test.faces, test.labels)
    assert rep.top1 > 0.55, rep.table()
    assert rep.recall["Happy"] > 0.7


def test_mac_count_from_the_onnx_graph_matches_the_torch_layers(tmp_path):
    from fer_overlay.modelstats import count_macs

    model = create_model("vgg_bn", width=8).eval()
    export_onnx(model, tmp_path / "m.onnx")  # before the hooks: export traces the model symbolically
    expected = 0

    def hook(module, _inputs, output):
        nonlocal expected
        if isinstance(module, torch.nn.Conv2d):
            expected += (
                output.numel()
                * module.in_channels
                // module.groups
                * module.kernel_size[0]
                * module.kernel_size[1]
            )
        elif isinstance(module, torch.nn.Linear):
            expected += output.numel() * module.in_features

    for module in model.modules():
        module.register_forward_hook(hook)
    with torch.no_grad():
        model(torch.rand(1, 1, 48, 48))
    assert count_macs(tmp_path / "m.onnx")[0] == expected


def test_crop_trains_on_random_crops_and_evaluates_the_centre():
    from training.models import Crop

    x = torch.arange(3 * 48 * 48, dtype=torch.float32).reshape(3, 1, 48, 48)
    crop = Crop(40)
    crop.eval()
    np.testing.assert_array_equal(crop(x).numpy(), x[:, :, 4:44, 4:44].numpy())
    crop.train()
    torch.manual_seed(0)
    seen = set()
    for _ in range(20):
        out = crop(x)
        assert out.shape == (3, 1, 40, 40)
        for i in range(3):  # each face gets its own window of the 48x48 face
            top, left = divmod(int(out[i, 0, 0, 0].item() - x[i, 0, 0, 0].item()), 48)
            np.testing.assert_array_equal(
                out[i, 0].numpy(), x[i, 0, top : top + 40, left : left + 40].numpy()
            )
            seen.add((top, left))
    assert len(seen) > 20


def _tiny_run(fer2013, tmp_path, n: int = 256) -> list[str]:
    csv_path = _small_csv(fer2013, tmp_path, n)
    return [
        "--data",
        str(csv_path),
        "--model",
        "vgg_bn",
        "--model-arg",
        "width=8",
        "--model-arg",
        "crop=40",
        "--batch-size",
        "64",
        "--lr",
        "0.05",
        "--threads",
        "2",
    ]


def test_committed_restart_point_resumes_the_same_schedule_on_another_machine(fer2013, tmp_path):
    import shutil

    argv = [*_tiny_run(fer2013, tmp_path), "--epochs", "4", "--seed", "3"]
    train_mod.main([*argv, "--out", str(tmp_path / "full")])
    ckpt = tmp_path / "training" / "checkpoints" / "tiny.pt"
    part = tmp_path / "part"
    train_mod.main([*argv, "--out", str(part), "--checkpoint", str(ckpt), "--stage-epochs", "2"])
    assert len((part / "log.jsonl").read_text().splitlines()) == 2
    saved = torch.load(ckpt, weights_only=False)
    assert saved["epoch"] == 2 and ckpt.stat().st_size < 10 * 2**20
    assert all(v.dtype == torch.float16 for v in saved["model"].values() if torch.is_floating_point(v))
    shutil.rmtree(part)  # another machine: only the committed restart point came along
    # its own folder and thread count (and device, precision) given to this stage win over the saved ones
    part = tmp_path / "elsewhere"
    train_mod.main(["--out", str(part), "--checkpoint", str(ckpt), "--resume", "--threads", "1"])
    rows = [json.loads(line) for line in (part / "log.jsonl").read_text().splitlines()]
    full = [json.loads(line) for line in (tmp_path / "full" / "log.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [3, 4]
    assert rows[-1]["lr"] == pytest.approx(full[-1]["lr"], rel=1e-9)  # the same fixed schedule
    assert rows[-1]["isa"] and rows[-1]["threads"] == 1
    kept = json.loads((part / "args.json").read_text())["argv"]  # the saved command is not rewritten
    assert kept.count("--threads") == 1 and kept[kept.index("--threads") + 1] == "2"
    curve = tmp_path / "training" / "results" / "curves" / "tiny.jsonl"
    assert [json.loads(line)["epoch"] for line in curve.read_text().splitlines()] == [1, 2, 3, 4]


def test_replan_changes_the_schedule_length_from_the_epoch_reached(fer2013, tmp_path):
    argv = [*_tiny_run(fer2013, tmp_path), "--seed", "3"]
    train_mod.main([*argv, "--epochs", "4", "--out", str(tmp_path / "short")])
    long = tmp_path / "long"
    train_mod.main([*argv, "--epochs", "9", "--out", str(long), "--stage-epochs", "2"])
    train_mod.main(["--out", str(long), "--resume", "--replan", "4"])
    rows = [json.loads(line) for line in (long / "log.jsonl").read_text().splitlines()]
    short = [json.loads(line) for line in (tmp_path / "short" / "log.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2, 3, 4]
    assert rows[1]["lr"] != pytest.approx(short[1]["lr"])  # the first stage followed the 9-epoch plan
    assert rows[-1]["lr"] == pytest.approx(short[-1]["lr"], rel=1e-9)  # then the 4-epoch one
    assert json.loads((long / "args.json").read_text())["argv"][-2:] == ["--epochs", "4"]
    train_mod.main(["--out", str(long), "--resume"])  # a later stage keeps the new plan: nothing left
    assert len((long / "log.jsonl").read_text().splitlines()) == 4
    with pytest.raises(SystemExit, match="already reached epoch 4"):
        train_mod.main(["--out", str(long), "--resume", "--replan", "3"])


def test_teacher_file_distills_and_refuses_other_faces(fer2013, tmp_path):
    from training.teacher import labels_sha256, load_teacher

    argv = _tiny_run(fer2013, tmp_path)
    small = {name: fer2013[name].take(slice(0, 256)) for name in SPLITS}
    probs = np.full((256, 7), 1 / 7, dtype=np.float16)
    teacher = tmp_path / "t.npz"
    np.savez(
        teacher,
        Training=probs,
        PublicTest=probs,
        Training_labels_sha256=np.asarray(labels_sha256(small["Training"].labels)),
        PublicTest_labels_sha256=np.asarray(labels_sha256(small["PublicTest"].labels)),
    )
    train_mod.main(
        [*argv, "--epochs", "1", "--out", str(tmp_path / "kd"), "--teacher", str(teacher), "--refit"]
    )
    rows = [json.loads(line) for line in (tmp_path / "kd" / "log.jsonl").read_text().splitlines()]
    assert rows[-1]["train_loss"] > 0
    with pytest.raises(SystemExit, match="other Training faces"):
        load_teacher(teacher, "Training", small["Training"].labels[::-1].copy())


def test_int8_and_flip_exports_keep_the_contract(fer2013, tmp_path):
    from training.export import quantize_int8

    torch.manual_seed(0)
    model = create_model("vgg_bn", width=8, crop=40).eval()
    flip = tmp_path / "flip.onnx"
    export_onnx(model, flip, flip=True)
    faces = fer2013["PublicTest"].faces[:64]
    assert parity(model, flip, faces, flip=True) < 1e-4
    mirrored = load_predictor(flip)(np.ascontiguousarray(faces[:, :, ::-1]))
    np.testing.assert_allclose(mirrored, load_predictor(flip)(faces), atol=1e-5)  # mirror-invariant
    fp32, int8 = tmp_path / "m.onnx", tmp_path / "m8.onnx"
    export_onnx(model, fp32)
    quantize_int8(fp32, int8, fer2013["Training"].faces[:128], "none")
    agree = (load_predictor(int8)(faces).argmax(1) == load_predictor(fp32)(faces).argmax(1)).mean()
    assert agree > 0.8
    np.testing.assert_allclose(load_predictor(int8)(faces).sum(1), 1.0, atol=1e-5)  # still probabilities
    assert int8.stat().st_size < fp32.stat().st_size
    from fer_overlay.modelstats import count_macs

    assert count_macs(int8)[0] == count_macs(fp32)[0]  # the QDQ graph's convolutions are still counted


def test_classifier_applies_the_face_normalisation_of_its_contract(fer2013, tmp_path):
    import shutil

    from fer_overlay.classify import Classifier, default_model_path, sha256_of
    from fer_overlay.facenorm import normalise_faces

    path = tmp_path / "m.onnx"  # a trained model, whose answers depend on the contrast of the face
    shutil.copy(default_model_path(), path)
    faces = fer2013["PublicTest"].faces[:16]
    raw = Classifier(path).predict(faces)
    contract = {
        "file": path.name,
        "sha256": sha256_of(path),
        "input_contract": {"face_normalisation": "clahe"},
    }
    path.with_suffix(".json").write_text(json.dumps(contract))
    clf = Classifier(path)
    assert clf.face_norm == "clahe" and clf.note == ""
    np.testing.assert_allclose(clf.predict(faces), Classifier(path).predict(faces))
    assert np.abs(clf.predict(faces) - raw).max() > 1e-3
    path.with_suffix(".json").unlink()
    np.testing.assert_allclose(
        Classifier(path).predict(normalise_faces(faces, "clahe")), clf.predict(faces), atol=1e-6
    )
