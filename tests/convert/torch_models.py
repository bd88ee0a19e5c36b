"""Small PyTorch modules for the convert tests (importable, so pickled modules can be loaded again)."""

import torch


class MLP(torch.nn.Module):
    def __init__(self, n_in: int = 64, hidden: int = 32, n_out: int = 10):
        super().__init__()
        self.net = torch.nn.Sequential(torch.nn.Linear(n_in, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, n_out))

    def forward(self, x):
        return self.net(x)


class CNN(torch.nn.Module):
    """For 1x8x8 digit images."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(1, 8, 3, padding=1)
        self.pool = torch.nn.MaxPool2d(2)
        self.fc = torch.nn.Linear(8 * 4 * 4, 10)

    def forward(self, x):
        x = self.pool(torch.relu(self.conv(x)))
        return self.fc(torch.flatten(x, 1))


def make_mlp():
    return MLP()


def train(module, x, y, steps: int = 60):
    """A few full-batch Adam steps: enough for predictions that mean something."""
    torch.manual_seed(0)
    optimizer = torch.optim.Adam(module.parameters(), lr=0.01)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y).long()
    for _ in range(steps):
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(module(xt), yt)
        loss.backward()
        optimizer.step()
    return module.eval()
