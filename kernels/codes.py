"""The integer codes and array layouts shared by the plan builder and the compiled engine.

Everything the compiled ``train`` needs to know about a model or a run arrives as numbers:
op codes and columns of the plan table, the fixed slots of the ``hyper`` vector
and the columns of the per-epoch ``history`` matrix. Names map to codes here; the codes of
layer, loss, optimizer and schedule kinds are their positions in their registries.
"""

# Columns of the plan table (int64, one row per layer). Op codes are the positions of the layer
# kinds in kernels.layers.KINDS; the other columns are filled by each kind's layout.
COL_OP = 0  # op code
COL_IN_DIM = 1  # input width per sample (C*H*W for images)
COL_OUT_DIM = 2  # output width per sample
COL_IN_OFF = 3  # per-sample column offset of the input in the activation workspace
COL_OUT_OFF = 4  # per-sample column offset of the output
COL_P_OFF = 5  # offset of the layer's parameters in the flat vector (-1: none)
COL_BIAS = 6  # 1 if the layer has biases
COL_CACHE_OFF = 7  # per-sample offset of the layer's float cache (conv columns, masks, ...)
COL_ICACHE_OFF = 8  # per-sample offset of the layer's integer cache (max-pool argmax)
COL_CODE = 9  # activation code (activation, residual); POOL_MAX or POOL_AVG (pool)
COL_C_IN = 10  # image layers: input channels, height, width (batch norm: features, 1, 1)
COL_H_IN = 11
COL_W_IN = 12
COL_C_OUT = 13  # output channels
COL_H_OUT = 14
COL_W_OUT = 15
COL_K = 16  # kernel / window size (square)
COL_STRIDE = 17
COL_PAD = 18  # zero padding on every side (conv)
COL_HIDDEN = 19  # hidden width (residual)
COL_BUF_OFF = 20  # offset of the layer's non-trainable buffers (batch norm's running statistics; -1: none)
N_COLS = 21

POOL_MAX = 0  # COL_CODE of a pooling layer
POOL_AVG = 1

# Columns of the plan's float arguments (float64, one row per layer).
ARG_BETA = 0  # activation β
ARG_GAMMA = 1  # activation γ
ARG_RATE = 2  # dropout rate δ
ARG_MOMENTUM = 3  # batch norm: weight of the batch in the running statistics
ARG_EPS = 4  # batch norm: ε added to the variance
N_ARGS = 5

# Slots of a plan's ``sizes`` vector (int64): what the workspaces and flat vectors hold.
SIZE_WIDTH = 0  # per-sample width of the activation workspace
SIZE_CACHE = 1  # per-sample width of the float cache
SIZE_ICACHE = 2  # per-sample width of the integer cache
SIZE_SCRATCH = 3  # floats of per-run scratch (conv backward)
SIZE_PARAMS = 4  # length of the flat parameter vector
SIZE_BUFFERS = 5  # length of the flat buffer vector (non-trainable state)
N_SIZES = 6

# Activation codes (kernels.activations).
ACT_IDENTITY = 0
ACT_THRESHOLD = 1
ACT_SIGN = 2
ACT_SIGMOID = 3
ACT_TANH = 4
ACT_RELU = 5
ACT_PRELU = 6
ACT_ELU = 7
ACT_SILU = 8
ACT_SOFTPLUS = 9
ACT_MISH = 10
ACT_SQUAREPLUS = 11
# name -> (code, default β, default γ, has a gradient); defaults are the Magyar text's plots.
ACTIVATIONS = {
    "identity": (ACT_IDENTITY, 0.0, 0.0, True),
    "threshold": (ACT_THRESHOLD, 0.0, 0.0, False),
    "sign": (ACT_SIGN, 0.0, 0.0, False),
    "sigmoid": (ACT_SIGMOID, 1.0, 1.0, True),
    "tanh": (ACT_TANH, 0.0, 0.0, True),
    "relu": (ACT_RELU, 0.0, 0.0, True),
    "prelu": (ACT_PRELU, 0.01, 0.0, True),  # β = 0.01: leaky ReLU
    "elu": (ACT_ELU, 1.0, 0.0, True),
    "silu": (ACT_SILU, 1.0, 1.0, True),
    "softplus": (ACT_SOFTPLUS, 1.0, 1.0, True),
    "mish": (ACT_MISH, 1.0, 0.0, True),
    "squareplus": (ACT_SQUAREPLUS, 1.0, 0.0, True),
}
ACTIVATION_NAMES = {code: name for name, (code, *_) in ACTIVATIONS.items()}

# Loss, optimizer and schedule codes are the positions of the kinds in kernels.losses.KINDS,
# kernels.optimizers.KINDS and kernels.schedules.KINDS (names: their CODES).

# The fixed slots of the ``hyper`` vector (the params' dtype); kernels.steps lays out the rest,
# the hyperparameters that the optimizer and schedule kinds read.
H_LR = 0  # base learning rate τ₀
H_L1 = 1  # λ₁ of the L1 penalty λ₁ Σ|w|
H_L2 = 2  # λ₂ of the L2 penalty (λ₂/2) Σ w²

# Columns of the per-epoch ``history`` (float64, row 0 = before training).
HIST_FIT_LOSS = 0  # data loss (no penalty) on the fit monitor set (usually the training set)
HIST_FIT_ACC = 1  # accuracy on it (NaN for regression losses)
HIST_TEST_LOSS = 2  # the same on the test set (NaN without one)
HIST_TEST_ACC = 3
HIST_LR = 4  # learning rate used in the epoch
HIST_TRAIN_TIME = 5  # cumulative seconds in updates
HIST_WALL_TIME = 6  # cumulative seconds including evaluation
HIST_REACH_STEP = 7  # in the epoch where a check first found the fit-set loss <= Settings.check_level: that step
HIST_REACH_TIME = 8  # ... and the seconds in updates from the start of training to it (NaN elsewhere)
N_HIST = 9
