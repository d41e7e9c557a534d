"""An independent reference of iResNet written from the published block
definitions (Duta et al. 2020, and the official iduta/iresnet code), used by
the tests to check the package's blocks, layouts and shortcuts.

It keeps the official module and key names and, like the official blocks,
applies its ReLUs out of place (the shortcut carries the block input).
"""
import torch.nn as nn


def conv3x3(i, o, stride=1, groups=1, dilation=1):
    return nn.Conv2d(i, o, 3, stride, padding=dilation, groups=groups,
                     bias=False, dilation=dilation)


def conv1x1(i, o, stride=1):
    return nn.Conv2d(i, o, 1, stride, bias=False)


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, inplanes, planes, stride=1, downsample=None,
                 start_block=False, end_block=False, exclude_bn0=False):
        super().__init__()
        self.conv1 = conv3x3(inplanes, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU()
        self.conv2 = conv3x3(planes, planes)
        if start_block or end_block:
            self.bn2 = nn.BatchNorm2d(planes)
        if not start_block and not exclude_bn0:
            self.bn0 = nn.BatchNorm2d(inplanes)
        self.downsample = downsample
        self.start_block, self.end_block = start_block, end_block
        self.exclude_bn0 = exclude_bn0

    def forward(self, x):
        identity = x
        if self.start_block:
            out = self.conv1(x)
        elif self.exclude_bn0:
            out = self.conv1(self.relu(x))
        else:
            out = self.conv1(self.relu(self.bn0(x)))
        out = self.relu(self.bn1(out))
        out = self.conv2(out)
        if self.start_block:
            out = self.bn2(out)
        if self.downsample is not None:
            identity = self.downsample(x)
        out = out + identity
        if self.end_block:
            out = self.relu(self.bn2(out))
        return out


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, inplanes, planes, stride=1, downsample=None,
                 start_block=False, end_block=False, exclude_bn0=False):
        super().__init__()
        self.conv1 = conv1x1(inplanes, planes)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = conv3x3(planes, planes, stride)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = conv1x1(planes, planes * 4)
        if start_block or end_block:
            self.bn3 = nn.BatchNorm2d(planes * 4)
        if not start_block and not exclude_bn0:
            self.bn0 = nn.BatchNorm2d(inplanes)
        self.relu = nn.ReLU()
        self.downsample = downsample
        self.start_block, self.end_block = start_block, end_block
        self.exclude_bn0 = exclude_bn0

    def forward(self, x):
        identity = x
        if self.start_block:
            out = self.conv1(x)
        elif self.exclude_bn0:
            out = self.conv1(self.relu(x))
        else:
            out = self.conv1(self.relu(self.bn0(x)))
        out = self.relu(self.bn1(out))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.conv3(out)
        if self.start_block:
            out = self.bn3(out)
        if self.downsample is not None:
            identity = self.downsample(x)
        out = out + identity
        if self.end_block:
            out = self.relu(self.bn3(out))
        return out


class ReferenceIResNet(nn.Module):
    """Official layout: stem conv7x7/2-BN-ReLU (no max-pool), layer1 stride
    2, ResStage blocks, MaxPool->conv1x1->BN projection shortcuts."""

    def __init__(self, block, layers, base=64):
        super().__init__()
        self.inplanes = base
        self.conv1 = nn.Conv2d(3, base, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(base)
        self.relu = nn.ReLU()
        self.layer1 = self._make_layer(block, base, layers[0], stride=2)
        self.layer2 = self._make_layer(block, base * 2, layers[1], stride=2)
        self.layer3 = self._make_layer(block, base * 4, layers[2], stride=2)
        self.layer4 = self._make_layer(block, base * 8, layers[3], stride=2)

    def _make_layer(self, block, planes, blocks, stride=1):
        out = planes * block.expansion
        downsample = None
        if stride != 1 and self.inplanes != out:
            downsample = nn.Sequential(
                nn.MaxPool2d(3, stride, 1), conv1x1(self.inplanes, out),
                nn.BatchNorm2d(out))
        elif self.inplanes != out:
            downsample = nn.Sequential(
                conv1x1(self.inplanes, out), nn.BatchNorm2d(out))
        elif stride != 1:
            downsample = nn.MaxPool2d(3, stride, 1)
        layers = [block(self.inplanes, planes, stride, downsample,
                        start_block=True)]
        self.inplanes = out
        exclude_bn0 = True
        for _ in range(1, blocks - 1):
            layers.append(block(self.inplanes, planes,
                                exclude_bn0=exclude_bn0))
            exclude_bn0 = False
        layers.append(block(self.inplanes, planes, end_block=True,
                            exclude_bn0=exclude_bn0))
        return nn.Sequential(*layers)

    def forward(self, x):
        x = self.relu(self.bn1(self.conv1(x)))
        outs = []
        for name in ['layer1', 'layer2', 'layer3', 'layer4']:
            x = getattr(self, name)(x)
            outs.append(x)
        return outs
