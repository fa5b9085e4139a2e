"""Typed, validated configuration: frozen dataclasses are the single source of truth.

One name per setting everywhere: the dataclass field ``train.lr`` is the experiment-file key
``[train] lr``, the override ``--set train.lr=3e-4``, the key in ``config.json`` and inside
every checkpoint, and the column in sweep results. Every value is checked when the object
is built, so a bad value stops before anything trains, with a message that says how to fix it.

An experiment file is TOML with ``[data]``, ``[model]`` and ``[train]`` tables; a top-level
``base = "study2019"`` starts from a preset (``siamese_faces/configs/<name>.toml``) or
another file, and the tables override it.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import math
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

PRESET_DIR = Path(__file__).parent / "configs"
# The train.objective values that learn a margin softmax over the training people's names.
IDENTITY_OBJECTIVES = ("cosface", "arcface", "adaface")
# Settings of how a run uses the machine, not of what it learns: a run may resume with
# others (a View 2 fold begun by a one-worker benchmark on all cores, finished by a two-worker
# one on one core each), and `benchmark lfw --merge` joins folds that ran with others.
MACHINE_SETTINGS = ("train.threads", "train.reuse_memory")


class ConfigError(ValueError):
    """A configuration value is wrong; the message names the setting and the fix."""


def _is_box(box: tuple[float, ...]) -> bool:
    """(left, top, right, bottom) fractions of a frame, with some area."""
    return len(box) == 4 and 0 <= box[0] < box[2] <= 1 and 0 <= box[1] < box[3] <= 1


def check(ok: bool, setting: str, value, fix: str) -> None:
    """A ConfigError naming ``setting``, its ``value`` and the ``fix`` unless ``ok``."""
    if not ok:
        raise ConfigError(f"{setting}={value!r}: {fix}")


# What model.descriptor_illumination may name (models/descriptors.py normalises by them).
ILLUMINATIONS = ("none", "tan-triggs")


@dataclass(frozen=True)
class DataConfig:
    dir: str = ""  # the --data folder; filled from the command line
    pairs_train: str = ""  # default: pairsDevTrain.txt beside or above the images
    pairs_test: str = ""
    size: int = 125  # model input side, pixels (the study: 250 -> 125; Koch: 105)
    crop: tuple[float, ...] = ()  # (left, top, right, bottom) fractions of the frame; () = none
    split: Literal["people", "letters"] = "people"
    # restricted: train on the training file's pairs only (LFW's restricted protocol);
    # unrestricted: any image of the training people, identities from folder names.
    protocol: Literal["restricted", "unrestricted"] = "restricted"
    val_fraction: float = 0.3
    split_seed: int = 0
    # Unrestricted only: this many more validation pairs (half same), formed from the
    # validation people's own images (seeded by split_seed), for a steadier choice of epoch
    # and threshold than the training file's few hundred; 0 = that file's pairs only.
    val_identity_pairs: int = 0
    # How those pairs' different pairs are drawn. images: two images at random, so the people
    # with many images fill most of them (as runs before this setting drew them); people: two
    # people alike, then an image of each, as LFW's own different pairs are (docs/accuracy.md).
    val_identity_negatives: Literal["images", "people"] = "images"
    # LFW View 2: k in 1..10 trains on the other nine folds of the View 2 file (data.pairs_test,
    # default pairs.txt) and tests on fold k; 0 = View 1's pairs files.
    fold: int = 0
    # Unrestricted: whose images train. pairs: the people of the training pairs; people-file:
    # every person of View 1's peopleDevTrain.txt (validation people left out).
    train_people: Literal["pairs", "people-file"] = "pairs"
    # Identities one folder deep (<Name>/*) or two (<Group>/<Name>/*, Omniglot's layout).
    depth: int = 1
    # A dataset with no pairs files gets them made (data/generate.py): test_fraction of its
    # people are test people (0: none, no test file); pair_count same and as many different
    # training pairs (the test file in proportion to its people; 0 = one of each per image,
    # as far as the people allow); seeded by split_seed.
    test_fraction: float = 0.2
    pair_count: int = 0

    def __post_init__(self) -> None:
        check(8 <= self.size <= 1024, "data.size", self.size, "use 8..1024 pixels (e.g. 125).")
        if self.crop:
            check(
                _is_box(self.crop),
                "data.crop",
                self.crop,
                "give left,top,right,bottom as fractions, e.g. 0.2,0.2,0.8,0.8.",
            )
        check(
            self.val_identity_pairs == 0
            or (self.val_identity_pairs > 0 and self.protocol == "unrestricted"),
            "data.val_identity_pairs",
            self.val_identity_pairs,
            'pairs formed from names need data.protocol = "unrestricted"; else use 0.',
        )
        check(0 <= self.fold <= 100, "data.fold", self.fold, "use 0 (View 1) or a fold 1..10.")
        check(
            self.train_people == "pairs" or (self.protocol == "unrestricted" and not self.fold),
            "data.train_people",
            self.train_people,
            "the people file is View 1's unrestricted training people: set data.protocol = "
            '"unrestricted" and data.fold = 0, or data.train_people = "pairs".',
        )
        check(self.depth in (1, 2), "data.depth", self.depth, "use 1 (<Name>/) or 2 (<G>/<Name>/).")
        check(
            0 <= self.test_fraction < 1,
            "data.test_fraction",
            self.test_fraction,
            "use a fraction in [0, 1), e.g. 0.2 (0: no test file, the run is tested elsewhere).",
        )
        check(
            0 <= self.pair_count <= 10_000_000,
            "data.pair_count",
            self.pair_count,
            "use 0 (automatic) or a number of same pairs, e.g. 1000.",
        )
        check(
            0 < self.val_fraction < 1,
            "data.val_fraction",
            self.val_fraction,
            "use a fraction between 0 and 1 (e.g. 0.3).",
        )


@dataclass(frozen=True)
class ModelConfig:
    name: str = "koch"  # a registered tower, see siamese_faces.models.registry
    filters: tuple[int, ...] = (8, 16, 32, 64)  # conv channels per layer
    kernels: tuple[int, ...] = (10, 7, 4, 4)  # conv kernel side per layer
    pool_layers: int = 3  # the first N conv layers are followed by a 2x2 max-pool
    fc: int = 2048  # units of the fully connected embedding layer
    fc_activation: Literal["sigmoid", "relu", "none"] = "sigmoid"
    init: Literal["koch", "glorot", "lecun", "default"] = "koch"
    # koch: the first layer's rate, 0.05 less per layer, never below 0.1; resnet: one rate
    # before the embedding layer
    dropout: float = 0.0
    batchnorm: bool = False
    head: Literal["l1_sigmoid", "euclidean", "cosine"] = "l1_sigmoid"
    # The pair loss, a name in the losses registry; "" = the head's own (bce for l1_sigmoid and
    # cosine, contrastive for euclidean). It must take what the head gives (a logit or a distance).
    loss: str = ""
    # loss margin: contrastive distance margin, CosFace cosine margin or ArcFace angle (radians)
    margin: float = 1.0
    scale: float = 30.0  # logit scale of the identity objectives (cosface, arcface, adaface)
    # Class centres a training person has in those objectives (sub-centre ArcFace, Deng et al.,
    # 2020): a face is scored against the nearest of them, so one person's photos may form
    # several clusters (age, glasses) and a mislabelled photo need not pull the main one
    subcentres: int = 1
    blocks: int = 1  # residual blocks per stage (model.name = "resnet")
    # How the last feature map reaches the embedding (resnet): averaged over its cells, or
    # flattened so that where on the aligned face a feature fires counts (ArcFace's "E").
    pooling: Literal["average", "flatten"] = "average"
    flip_tta: bool = False  # embed each face and its mirror image, average (at evaluation)
    # Independent towers in one net (an ensemble): each member its own loss (pair loss, or
    # CosFace with its own class weights), the verdict the mean of their cosines (head = "cosine")
    members: int = 1
    # Within-class covariance normalisation fitted after training on the training people (a
    # restricted run: its same-labelled training pairs, each pair a class; models/whiten.py):
    # its ridge as a fraction of the mean variance; 0 = off
    wccn: float = 0.0
    # Scores normalised against a cohort of training faces fitted after training
    # (models/cohort.py): "s-norm" each face against the training people (a restricted run:
    # its training images, grouped by no name); "none": the cosine as it is
    score_norm: Literal["none", "s-norm"] = "none"
    # Hand-crafted descriptors fused with the tower's embedding after training
    # (models/descriptors.py): "hog-lbp" HOG and LBP histograms, fitted on the training
    # people (a restricted run: its training pairs' images, whitened on its same-labelled
    # pairs) to model.descriptor_dim whitened directions, their weight in the cosine chosen
    # on validation pairs; "none": the tower alone
    descriptor: Literal["none", "hog-lbp"] = "none"
    descriptor_dim: int = 256
    # The LBP histograms' cells are data.size // this pixels square: 8 gives 8-pixel cells, a
    # 7 x 7 grid, at 64 x 64; 10 gives 6-pixel cells, a 10 x 10 grid (docs/accuracy.md)
    descriptor_lbp_divisor: int = 8
    # LBP's radii: each pixel against the eight pixels this far away on the square around it,
    # one set of histograms a radius (1: the classical LBP(8, 1))
    descriptor_lbp_radii: tuple[int, ...] = (1,)
    # The faces the histograms read: "none" as they are; "tan-triggs" after Tan & Triggs'
    # illumination normalisation (gamma, a difference of Gaussians, contrast equalisation;
    # models/descriptors.py); both: one family of histograms each, each its own directions
    # and share (docs/accuracy.md)
    descriptor_illumination: tuple[Literal["none", "tan-triggs"], ...] = ("none",)
    # The scales the histograms read the face at: each value how many times it is halved
    # first (models/siamese.py, halve), 0 the face as data.size gives it; each scale with each
    # illumination is a family of its own, its own directions and share (docs/accuracy.md)
    descriptor_halvings: tuple[int, ...] = (0,)
    # The tower's input size: larger faces (data.size) are halved down to it inside the net,
    # as Pillow's antialiased resize would (models/siamese.py, halve), so that the descriptor
    # reads every pixel of data.size while the tower costs what it costs at this size; faces
    # of this size or smaller reach the tower as they are; 0: always as they are
    tower_size: int = 0
    # How the verdict's threshold is chosen on validation pairs (evaluation/metrics.py):
    # "best-accuracy" the most accurate one on those pairs; "smoothed-accuracy" the most
    # accurate under a Gaussian kernel density of each class's scores (Silverman's bandwidth),
    # less at the mercy of the few pairs near the threshold (docs/accuracy.md)
    threshold_rule: Literal["best-accuracy", "smoothed-accuracy"] = "best-accuracy"
    # Each member's view of the input face: (left, top, right, bottom) fractions of it, resized
    # back to data.size (models/siamese.py). Members that look at different parts of the face
    # err differently (DeepID-style patches). () = every member sees the whole input.
    views: tuple[tuple[float, ...], ...] = ()
    # Each view cut from the net's input face (data.size) and then halved to model.tower_size,
    # instead of cut from the halved face: an inner view then reads the input's pixels rather
    # than an enlarged quarter of them. Training then jitters the faces at data.size (4x the
    # pixels a halving). Needs model.views and a tower_size below data.size.
    views_before_halving: bool = False

    def __post_init__(self) -> None:
        check(
            len(self.filters) >= 1 and all(f > 0 for f in self.filters),
            "model.filters",
            self.filters,
            "give one positive channel count per conv layer, e.g. 8,16,32,64.",
        )
        # Settings that only one tower reads (model.kernels, model.pool_layers for koch) are
        # checked by that tower's registration (models/koch.py), not here.
        check(
            all(0 < f <= 4096 for f in self.filters),
            "model.filters",
            self.filters,
            "use 1..4096 channels a layer.",
        )
        # Bounds before anything is allocated: a weights file's configuration goes through
        # these same checks, and 1e11 units would take the machine's memory.
        check(0 < self.fc <= 65536, "model.fc", self.fc, "use 1..65536 units, e.g. 2048.")
        check(0 <= self.dropout < 1, "model.dropout", self.dropout, "use a rate in [0, 1).")
        check(self.margin > 0, "model.margin", self.margin, "use a positive margin, e.g. 1.0.")
        check(self.scale > 0, "model.scale", self.scale, "use a positive scale, e.g. 30.")
        check(1 <= self.blocks <= 64, "model.blocks", self.blocks, "use 1..64.")
        check(1 <= self.members <= 64, "model.members", self.members, "use 1..64.")
        check(1 <= self.subcentres <= 16, "model.subcentres", self.subcentres, "use 1..16.")
        check(
            self.members == 1 or self.head == "cosine",
            "model.members",
            self.members,
            'an ensemble averages cosines: set model.head = "cosine", or members = 1.',
        )
        check(
            not self.views or len(self.views) == self.members,
            "model.views",
            self.views,
            f"give one view a member ({self.members} here), or none.",
        )
        for box in self.views:
            check(
                _is_box(box),
                "model.views",
                self.views,
                "give each view as left,top,right,bottom fractions, views apart by ';', "
                "e.g. 0,0,1,1;0.1,0.1,0.9,0.9.",
            )
        self._check_fitted_after_training()

    def _check_fitted_after_training(self) -> None:
        """What is fitted after training (whitening, cohort, descriptor) serves a cosine."""
        check(self.wccn >= 0, "model.wccn", self.wccn, "use 0 (off) or a ridge > 0, e.g. 0.1.")
        check(
            self.wccn == 0 or self.head == "cosine",
            "model.wccn",
            self.wccn,
            'whitening serves a cosine: set model.head = "cosine", or model.wccn = 0.',
        )
        check(
            self.score_norm == "none" or self.head == "cosine",
            "model.score_norm",
            self.score_norm,
            'the cohort is measured by cosines: set model.head = "cosine", or '
            'model.score_norm = "none".',
        )
        check(
            self.descriptor == "none" or self.head == "cosine",
            "model.descriptor",
            self.descriptor,
            'the descriptor joins the tower\'s cosine: set model.head = "cosine", or '
            'model.descriptor = "none".',
        )
        self._check_descriptor()
        check(
            self.tower_size >= 0,
            "model.tower_size",
            self.tower_size,
            "use 0 (the tower reads data.size) or data.size halved, e.g. 64 for 128.",
        )

    def _check_descriptor(self) -> None:
        """The histograms' settings (models/descriptors.py)."""
        check(
            1 <= self.descriptor_dim <= 4096,
            "model.descriptor_dim",
            self.descriptor_dim,
            "use 1..4096 directions, e.g. 256.",
        )
        check(
            2 <= self.descriptor_lbp_divisor <= 32,
            "model.descriptor_lbp_divisor",
            self.descriptor_lbp_divisor,
            "use 2..32 (LBP cells of data.size // it pixels), e.g. 8.",
        )
        for setting, allowed, fix in (
            ("lbp_radii", range(1, 5), "give distinct radii of 1..4 pixels, e.g. 1 or 1,2."),
            (
                "illumination",
                ILLUMINATIONS,
                "give distinct ones of none, tan-triggs, e.g. tan-triggs or none,tan-triggs.",
            ),
            (
                "halvings",
                range(4),
                "give distinct halvings of 0..3, e.g. 0 (the face as it is) or 0,1.",
            ),
        ):
            values = getattr(self, f"descriptor_{setting}")
            distinct = len(set(values)) == len(values) >= 1
            check(
                distinct and all(v in allowed for v in values),
                f"model.descriptor_{setting}",
                values,
                fix,
            )


@dataclass(frozen=True)
class TrainConfig:
    optimizer: Literal["adam", "adamw", "rmsprop", "sgd"] = "adam"
    lr: float = 1e-3
    momentum: float = 0.9  # SGD and RMSprop
    weight_decay: float = 0.0
    batch_size: int = 128
    epochs: int = 100  # at most; early stopping usually ends sooner
    patience: int = 3  # epochs without a better monitored value before stopping
    monitor: Literal["loss", "auc"] = "loss"  # early stopping on validation loss or AUC
    # The share of train.epochs trained before validation begins: those epochs cannot be kept
    # as the best nor count towards patience, and each saves its validation (about a tenth of
    # a View 2 fold's epoch on one thread: docs/accuracy.md). 0: every epoch; 0.5: the second
    # half.
    validate_after: float = 0.0
    schedule: Literal["constant", "cosine"] = "constant"  # learning rate over train.epochs
    # Decay per step of a moving average of the weights (and BatchNorm statistics) that is
    # validated, checkpointed and kept instead of the last step's weights; 0: off.
    ema: float = 0.0
    # Training batches over which the average's BatchNorm statistics are measured again before
    # each validation, as SWA does: the mean of several models' statistics is not its averaged
    # weights' own (docs/accuracy.md). 0: the averaged statistics.
    ema_batchnorm_batches: int = 0
    # pairs: the head's pair loss; cosface, arcface, adaface: margin softmax over training
    # identities, the margin on the cosine, on the angle, or both as the embedding's norm says
    # (need data.protocol = "unrestricted");
    # instance: self-supervised, each training image's two random views must find each other
    # in the batch (no names, no pair labels: either protocol; a pre-training stage).
    objective: Literal["pairs", "cosface", "arcface", "adaface", "instance"] = "pairs"
    temperature: float = 0.1  # of the instance objective's softmax over the batch
    # A finished run whose tower weights this run starts from (e.g. an instance run); "": none.
    start_from: str = ""
    # Distillation (training/distill.py): a finished run folder whose scores between the
    # faces of each batch the new tower learns to match, and that loss's weight; "" / 0: off.
    teacher: str = ""
    distill: float = 0.0
    augment: bool = False  # random flips, small affine jitter, brightness/contrast
    # With augment: every jitter's range times this (training/augment.py's JITTER: 1 is
    # +-10 degrees, +-10% scale, +-6% shift, +-20% contrast, +-0.1 brightness).
    augment_scale: float = 1.0
    # Whether augmentation mirrors half the images: a face's mirror is the same face; a
    # character's (Omniglot) is another character, or none.
    mirror: bool = True
    erase: float = 0.0  # probability of random erasing: one rectangle of noise an image
    same_fraction: float = 0.0  # re-draw each epoch's pairs with this share of same pairs
    pairs_per_epoch: int = 0  # unrestricted pairs drawn per epoch (0: as many as train pairs)
    # Identity objectives: an epoch takes at most this many images of a person, drawn anew
    # each epoch (0: all; LFW's pairs-file people range from 1 photo to 530), and none of a
    # person with fewer than min_images_per_person (who still count as classes).
    max_images_per_person: int = 0
    min_images_per_person: int = 1
    seed: int = 0
    device: Literal["auto", "cpu", "cuda"] = "auto"
    threads: int = 0  # CPU threads per process; 0 = all cores (shared among DDP processes)
    channels_last: bool = True
    bf16: bool = True  # bfloat16 autocast for the forward pass (CPU with AVX512-BF16, or GPU)
    # Keep freed tensors' memory for reuse instead of handing it back to the system each step
    # (runtime.reuse_freed_memory; glibc only): same results, fewer page faults.
    reuse_memory: bool = True
    # The tower's training forward (and its backward) through torch.compile's inductor,
    # which fuses its elementwise work: other rounding and dropout draws, so other weights
    # than eager's from the same seed (the same ones run to run); identity and instance
    # objectives; needs a C++ compiler at run time (without one, training says so and runs
    # eagerly). Validation and inference stay eager.
    compile: bool = False

    def __post_init__(self) -> None:
        check(self.lr > 0, "train.lr", self.lr, "use a positive learning rate, e.g. 1e-3.")
        check(0 <= self.momentum < 1, "train.momentum", self.momentum, "use a value in [0, 1).")
        check(self.weight_decay >= 0, "train.weight_decay", self.weight_decay, "use >= 0.")
        check(1 <= self.batch_size <= 65536, "train.batch_size", self.batch_size, "use 1..65536.")
        check(1 <= self.epochs <= 100_000, "train.epochs", self.epochs, "use 1..100000.")
        check(self.seed >= 0, "train.seed", self.seed, "use 0 or more (a seed of NumPy's).")
        check(0 <= self.erase <= 1, "train.erase", self.erase, "use a probability in [0, 1].")
        check(
            0 <= self.augment_scale <= 4,
            "train.augment_scale",
            self.augment_scale,
            "use a factor in [0, 4] of the default jitter, e.g. 1.5 (with train.augment = true).",
        )
        self._check_average()
        check(self.temperature > 0, "train.temperature", self.temperature, "use > 0, e.g. 0.1.")
        check(self.distill >= 0, "train.distill", self.distill, "use 0 (off) or a weight, e.g. 1.")
        check(
            bool(self.distill) == bool(self.teacher),
            "train.distill" if self.distill else "train.teacher",
            self.distill or self.teacher,
            "distillation needs both train.teacher (a run folder) and train.distill (> 0).",
        )
        check(self.patience >= 1, "train.patience", self.patience, "use >= 1, e.g. 3.")
        check(
            0 <= self.validate_after < 1,
            "train.validate_after",
            self.validate_after,
            "use a share of train.epochs in [0, 1), e.g. 0.5 (0: validate every epoch).",
        )
        check(self.threads >= 0, "train.threads", self.threads, "use 0 (all cores) or more.")
        check(
            0 <= self.same_fraction < 1,
            "train.same_fraction",
            self.same_fraction,
            "use 0 (pairs as they are) or a share of same pairs below 1, e.g. 0.5.",
        )
        check(
            self.pairs_per_epoch >= 0,
            "train.pairs_per_epoch",
            self.pairs_per_epoch,
            "use 0 (as many as the training pairs) or more.",
        )
        check(
            self.max_images_per_person >= 0,
            "train.max_images_per_person",
            self.max_images_per_person,
            "use 0 (every image of a person) or more, e.g. 32.",
        )
        check(
            self.min_images_per_person >= 1,
            "train.min_images_per_person",
            self.min_images_per_person,
            "use 1 (every person) or more, e.g. 2.",
        )

    def _check_average(self) -> None:
        """The moving average's settings."""
        check(
            0 <= self.ema < 1, "train.ema", self.ema, "use 0 (off) or a decay below 1, e.g. 0.995."
        )
        check(
            self.ema_batchnorm_batches == 0 or (self.ema_batchnorm_batches > 0 and self.ema > 0),
            "train.ema_batchnorm_batches",
            self.ema_batchnorm_batches,
            "use 0, or a number of batches, e.g. 16, with a moving average (train.ema > 0).",
        )

    @property
    def first_validated(self) -> int:
        """The first epoch (1-based) that is validated: the one after ``validate_after`` of
        them (36 epochs at 0.5: the 19th)."""
        return int(self.validate_after * self.epochs) + 1

    @property
    def limits_images_per_person(self) -> bool:
        """Whether an identity epoch takes fewer than all the training images."""
        return bool(self.max_images_per_person) or self.min_images_per_person > 1


@dataclass(frozen=True)
class Config:
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def __post_init__(self) -> None:
        # What a tower or a loss asks of the rest (BatchNorm's batch of two, a loss that fits
        # the head) is declared where it registers and checked by training.api.validate.
        identities = self.train.objective in IDENTITY_OBJECTIVES
        if identities and self.data.protocol != "unrestricted":
            raise ConfigError(
                f"train.objective={self.train.objective!r} learns from identities, which the "
                "restricted protocol forbids: set data.protocol=unrestricted, or use "
                "train.objective=pairs."
            )
        if self.train.objective == "instance" and self.model.head != "cosine":
            raise ConfigError(
                f"train.objective='instance' trains the tower's embedding for a cosine, and "
                f"model.head={self.model.head!r} would be validated untrained: set "
                'model.head = "cosine".'
            )
        if self.train.compile and self.train.objective == "pairs":
            raise ConfigError(
                "train.compile=true compiles the tower of the identity and instance "
                "objectives (train.objective = cosface, arcface, adaface or instance); pairs "
                "train eagerly: set train.compile = false."
            )
        if self.model.subcentres > 1 and not identities:
            raise ConfigError(
                f"model.subcentres={self.model.subcentres} gives each training person several "
                "class centres, which only the identity objectives have: set train.objective "
                f"to one of {', '.join(IDENTITY_OBJECTIVES)}, or model.subcentres = 1."
            )
        if self.train.limits_images_per_person and not identities:
            raise ConfigError(
                "train.max_images_per_person and train.min_images_per_person choose the images "
                "of an epoch of the identity objectives: set train.objective to one of "
                f"{', '.join(IDENTITY_OBJECTIVES)}, or leave them at 0 and 1."
            )
        ts, size = self.model.tower_size, self.data.size
        if 0 < ts < size and (size % ts or (size // ts) & (size // ts - 1)):
            raise ConfigError(
                f"model.tower_size={ts}: the tower's faces are data.size={size} pixels "
                "halved one or more times; use data.size divided by 2, 4, ... (e.g. "
                f"{size // 2}), or 0 for data.size itself."
            )
        if self.model.views_before_halving and not (self.model.views and 0 < ts < size):
            raise ConfigError(
                "model.views_before_halving cuts each member's view from the data.size face "
                f"before it is halved to model.tower_size (here views={list(self.model.views)}, "
                f"tower_size={ts}, data.size={size}): give model.views and a tower_size below "
                "data.size, or leave it false."
            )
        if self.train.distill and not identities:
            raise ConfigError(
                "train.distill matches the teacher's scores within each batch of faces, which "
                "the identity objectives draw: set train.objective to one of "
                f"{', '.join(IDENTITY_OBJECTIVES)}."
            )

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)


SECTIONS = {f.name: f.type for f in dataclasses.fields(Config)}


def _section_class(name: str) -> type:
    return typing.get_type_hints(Config)[name]


def _coerce(setting: str, hint, value):
    """Turn ``value`` (TOML value, JSON value or override string) into ``hint``'s type."""
    origin = typing.get_origin(hint)
    if origin is Literal:
        choices = typing.get_args(hint)
        if value not in choices:
            raise ConfigError(f"{setting}={value!r}: choose one of {', '.join(map(str, choices))}.")
        return value
    if origin is tuple:
        inner = typing.get_args(hint)[0]
        if isinstance(value, str):  # "1,2,3"; a list of lists: "1,2;3,4"
            nested = typing.get_origin(inner) is tuple
            if "[" in value or "(" in value:  # a TOML or Python list typed on a command line
                example = "0,0,1,1;0.1,0.1,0.9,0.9" if nested else "8,16,32"
                raise ConfigError(
                    f"{setting}={value!r}: on the command line write it without brackets, "
                    f"e.g. {example}" + (" (';' between the lists)." if nested else ".")
                )
            sep = ";" if nested else ","
            value = [v for v in value.replace(" ", "").split(sep) if v]
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{setting}={value!r}: give a comma-separated list, e.g. 8,16,32.")
        return tuple(_coerce(setting, inner, v) for v in value)
    if origin in (types.UnionType, typing.Union):
        raise TypeError(f"unsupported config type {hint}")  # keep the schema simple
    if hint is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false", "1", "0", "yes", "no"):
            return value.lower() in ("true", "1", "yes")
        raise ConfigError(f"{setting}={value!r}: use true or false.")
    if hint is int:
        if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
            raise ConfigError(f"{setting}={value!r}: use a whole number.")
        try:
            return int(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{setting}={value!r}: use a whole number.") from None
    if hint is float:
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{setting}={value!r}: use a number, e.g. 3e-4.") from None
        if not math.isfinite(number):  # inf passes every "> 0" check and NaN every comparison
            raise ConfigError(f"{setting}={value!r}: use a finite number, e.g. 3e-4.")
        return number
    if hint is str:
        return str(value)
    raise TypeError(f"unsupported config type {hint}")


def _apply(config: Config, sections: dict[str, dict], source: str) -> Config:
    """Every section's changes first, then one Config: cross-section checks see them all."""
    new = {name: _section(config, name, values, source) for name, values in sections.items()}
    return dataclasses.replace(config, **new)


def _section(config: Config, section: str, values: dict, source: str):
    if section not in SECTIONS:
        raise ConfigError(f"{source}: unknown section [{section}]; use {', '.join(SECTIONS)}.")
    cls = _section_class(section)
    hints = typing.get_type_hints(cls)
    changes = {}
    for key, value in values.items():
        if key not in hints:
            near = difflib.get_close_matches(key, hints, n=1)
            hint = f" Did you mean {section}.{near[0]}?" if near else ""
            raise ConfigError(
                f"{source}: unknown setting {section}.{key}.{hint} Valid: {', '.join(hints)}."
            )
        changes[key] = _coerce(f"{section}.{key}", hints[key], value)
    return dataclasses.replace(getattr(config, section), **changes)


def from_dict(d: dict, base: Config | None = None, source: str = "config") -> Config:
    for section, values in d.items():
        if not isinstance(values, dict):
            raise ConfigError(f"{source}: '{section}' must be a table ([{section}]).")
    return _apply(base or Config(), d, source)


def changed_settings(
    saved: dict, ours: dict, source: str, ignore: tuple[str, ...] = ()
) -> list[str]:
    """The ``section.setting`` names whose values differ between a saved configuration (a
    run's or a summary's, as JSON) and ``ours`` (``Config.to_dict``), ``MACHINE_SETTINGS`` and
    ``ignore`` aside. Both go through the current schema: a setting added since the saved one
    was written takes its default in both, and is no difference."""
    theirs = json.loads(from_dict(saved, source=source).to_json())
    mine = json.loads(json.dumps(ours))
    skip = {*MACHINE_SETTINGS, *ignore}
    return [
        f"{s}.{k}"
        for s in mine
        for k in mine[s]
        if f"{s}.{k}" not in skip and theirs.get(s, {}).get(k) != mine[s][k]
    ]


def preset_names() -> list[str]:
    return sorted(p.stem for p in PRESET_DIR.glob("*.toml"))


def read_toml(path: Path, what: str = "config file") -> dict:
    """A TOML file as a dict; a missing or malformed file is a ConfigError naming it."""
    try:
        return tomllib.loads(Path(path).read_text())
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such {what}.") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc}).") from None


def load_file(path: str | Path, _seen: tuple = ()) -> Config:
    """Read an experiment file (TOML), following its ``base`` chain."""
    path = Path(path)
    if path in _seen:
        raise ConfigError(f"{path}: 'base' chain loops back to itself.")
    d = read_toml(path)
    base_name = d.pop("base", None)
    d.pop("description", None)
    d.pop("sweep", None)  # a sweep file's own table, read by siamese_faces.experiments.sweep
    base = None
    if base_name:
        base_path = (path.parent / base_name) if base_name.endswith(".toml") else None
        base = load_file(base_path or preset_path(base_name), (*_seen, path))
    return from_dict(d, base, str(path))


def preset_path(name: str) -> Path:
    path = PRESET_DIR / f"{name}.toml"
    if not path.is_file():
        raise ConfigError(f"unknown preset {name!r}; choose one of {', '.join(preset_names())}.")
    return path


def apply_overrides(config: Config, overrides: list[str]) -> Config:
    """Apply ``section.key=value`` strings (``--set``), each type-checked.

    All overrides of a section are applied together before it is validated, so that
    settings that must agree (``model.filters`` and ``model.kernels``) can change at once.
    """
    grouped: dict[str, dict[str, str]] = {}
    for item in overrides:
        if "=" not in item or "." not in item.split("=", 1)[0]:
            raise ConfigError(f"--set {item!r}: write section.key=value, e.g. train.lr=3e-4.")
        key, value = item.split("=", 1)
        section, name = key.strip().split(".", 1)
        grouped.setdefault(section, {})[name] = value.strip()
    return _apply(config, grouped, "--set")
