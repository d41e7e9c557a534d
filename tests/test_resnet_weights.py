"""A ResNet's weights loaded into an iResNet backbone raise one error that
names the fix, whatever the source form; iResNet checkpoints still load.

The ResNet state dicts are those of mmdet's and mmaction2's own classes;
``torchvision://``, ``open-mmlab://`` and ``https://`` go through mmengine's
own loaders, with only the download (``load_url``) answered from a local
file."""
import pytest
import torch
from mmengine.runner import checkpoint as mme_checkpoint

from mm_iresnet.models import IResNet, IResNet3d, IResNet3dSlowFast, IResNetTSM
from mm_iresnet.models.resnet_weights import (ResNetWeightsError,
                                              is_resnet_state_dict)

SCHEMES = ('torchvision://resnet50', 'open-mmlab://detectron2/resnet50_caffe',
           'https://download.example/resnet50.pth')


def _installed_config(package: str, name: str):
    """A config as the installed package ships it."""
    import os.path as osp

    from mmengine.config import Config
    module = __import__(package)
    return Config.fromfile(
        osp.join(osp.dirname(module.__file__), '.mim', 'configs', name))


def _state_dict(module):
    return {k: v.clone() for k, v in module.state_dict().items()}


@pytest.fixture(scope='module')
def resnet50_2d(tmp_path_factory):
    """mmdet's ResNet-50 (torchvision's names), saved as a plain state
    dict, as torchvision's ImageNet file is."""
    from mmdet.models import ResNet
    path = tmp_path_factory.mktemp('resnet') / 'resnet50.pth'
    torch.save(_state_dict(ResNet(depth=50)), path)
    return str(path)


@pytest.fixture(scope='module')
def resnet50_3d(tmp_path_factory):
    """mmaction2's ResNet3d-50 (ConvModule names) in a checkpoint dict."""
    from mmaction.models import ResNet3d
    path = tmp_path_factory.mktemp('resnet3d') / 'resnet3d50.pth'
    torch.save(
        {
            'state_dict':
            _state_dict(
                ResNet3d(depth=50, pretrained=None, pretrained2d=False))
        }, path)
    return str(path)


@pytest.fixture
def served(monkeypatch, resnet50_2d):
    """mmengine's URL schemes answered with the local ResNet-50 file: only
    the download is replaced, mmengine's scheme loaders run."""
    urls = []

    def load_url(url, model_dir=None, map_location=None, **kwargs):
        urls.append(url)
        return torch.load(resnet50_2d, map_location=map_location)

    monkeypatch.setattr(mme_checkpoint, 'load_url', load_url)
    monkeypatch.setattr(mme_checkpoint, 'get_torchvision_models',
                        lambda: {'resnet50': 'https://tv/resnet50.pth'})
    monkeypatch.setattr(
        mme_checkpoint, 'get_external_models',
        lambda: {'detectron2/resnet50_caffe': 'https://mm/r50c.pth'})
    return urls


def test_fingerprint_of_the_installed_classes():
    from mmaction.models import ResNet as ActionResNet
    from mmaction.models import ResNet3d, ResNetTSM
    from mmdet.models import ResNet, ResNeXt
    resnets = [
        ResNet(depth=18),
        ResNet(depth=50),
        ResNet(depth=50, deep_stem=True, avg_down=True),
        ResNeXt(depth=50, groups=32, base_width=4),
        ActionResNet(depth=50, pretrained=None),
        ResNetTSM(depth=50, pretrained=None),
        ResNet3d(depth=50, pretrained=None, pretrained2d=False)
    ]
    for model in resnets:
        assert is_resnet_state_dict(model.state_dict()), type(model)
    ours = [
        IResNet(depth=18),
        IResNet(depth=50),
        IResNet(depth=101),
        IResNet(depth=50, groups=32, base_width=None),
        IResNet(depth=50, ordering='resstage_paper'),
        IResNet(depth=50, ordering='preact'),
        IResNet3d(depth=50),
        IResNetTSM(depth=50)
    ]
    for model in ours:
        assert not is_resnet_state_dict(model.state_dict()), model
    # a ResNet-layout member of the family is one, by content
    assert is_resnet_state_dict(
        IResNet(
            depth=50, ordering='original', projection='conv',
            stem_pool=True).state_dict())
    assert not is_resnet_state_dict({'fc.weight': torch.zeros(2)})


@pytest.mark.parametrize('depth', [18, 50])
def test_2d_from_a_path(tmp_path, depth):
    from mmdet.models import ResNet
    path = tmp_path / 'r.pth'
    torch.save({'state_dict': _state_dict(ResNet(depth=depth))}, path)
    model = IResNet(
        depth=depth, init_cfg=dict(type='Pretrained', checkpoint=str(path)))
    with pytest.raises(ResNetWeightsError) as info:
        model.init_weights()
    message = str(info.value)
    assert message.startswith(f'{path}: these are a ResNet\'s weights')
    assert 'allow_partial_load=True' in message
    if depth == 50:  # an official checkpoint exists
        assert "checkpoint='iresnet://iresnet50'" in message
        assert 'init_cfg=None' in message
    else:
        assert 'iresnet://' not in message
        assert 'no official iResNet-18 checkpoint' in message


@pytest.mark.parametrize('source', SCHEMES)
def test_2d_from_a_scheme(served, source):
    model = IResNet(
        depth=50, init_cfg=dict(type='Pretrained', checkpoint=source))
    with pytest.raises(ResNetWeightsError, match='iresnet://iresnet50'):
        model.init_weights()
    assert len(served) == 1  # mmengine's loader fetched it


@pytest.mark.parametrize('source', ['path', 'torchvision://resnet50'])
def test_3d_inflated_from_2d(served, resnet50_2d, source):
    source = resnet50_2d if source == 'path' else source
    model = IResNet3d(depth=50, pretrained=source, pretrained2d=True)
    with pytest.raises(ResNetWeightsError) as info:
        model.init_weights()
    assert str(info.value).startswith(f'{source}: ')
    assert "pretrained='iresnet://iresnet50', pretrained2d=True" in \
        str(info.value)
    assert 'pretrained=None' in str(info.value)
    # raised before anything was inflated into the network
    inflated = torch.load(resnet50_2d)['conv1.weight'].unsqueeze(2) / 3
    assert not torch.allclose(model.conv1.weight,
                              inflated.expand_as(model.conv1.weight))


def test_3d_from_a_3d_checkpoint(resnet50_3d):
    model = IResNet3d(depth=50, pretrained=resnet50_3d, pretrained2d=False)
    with pytest.raises(ResNetWeightsError, match='iresnet://iresnet50'):
        model.init_weights()


def test_swapped_mmdet_config(served):
    """mmdet's own Faster R-CNN config with only the type swapped."""
    from mmdet.registry import MODELS
    from mmengine.registry import init_default_scope
    cfg = _installed_config('mmdet',
                            'faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py')
    assert cfg.model.backbone.init_cfg.checkpoint == 'torchvision://resnet50'
    cfg.model.backbone.type = 'IResNet'
    init_default_scope('mmdet')
    model = MODELS.build(cfg.model)
    with pytest.raises(ResNetWeightsError, match='iresnet://iresnet50'):
        model.init_weights()
    assert served == ['https://tv/resnet50.pth']


def test_swapped_mmaction_config(served):
    """mmaction2's own I3D config with only the type swapped."""
    from mmaction.registry import MODELS
    from mmengine.registry import init_default_scope
    cfg = _installed_config(
        'mmaction', 'recognition/i3d/i3d_imagenet-'
        'pretrained-r50_8xb8-32x2x1-100e_kinetics400-'
        'rgb.py')
    assert cfg.model.backbone.pretrained == 'torchvision://resnet50'
    assert cfg.model.backbone.pretrained2d
    cfg.model.backbone.type = 'IResNet3d'
    init_default_scope('mmaction')
    model = MODELS.build(cfg.model)
    with pytest.raises(
            ResNetWeightsError,
            match="pretrained='iresnet://iresnet50', "
            'pretrained2d=True'):
        model.init_weights()


def test_whole_model_checkpoint_through_load_state_dict():
    """A whole ResNet detector's weights (``backbone.`` prefix) loaded into
    a model with an iResNet backbone: torch's and mmengine's loaders."""
    from mmdet.models import ResNet
    from mmengine.runner.checkpoint import load_state_dict
    state = {
        f'backbone.{k}': v
        for k, v in ResNet(depth=18).state_dict().items()
    }
    model = torch.nn.Module()
    model.backbone = IResNet(depth=18)
    with pytest.raises(ResNetWeightsError):
        model.load_state_dict(state, strict=False)
    with pytest.raises(ResNetWeightsError):
        load_state_dict(model, state)


def test_slowfast_pathway_from_2d(resnet50_2d):
    model = IResNet3dSlowFast(
        slow_pathway=dict(
            type='resnet3d',
            depth=50,
            pretrained=resnet50_2d,
            lateral=True,
            conv1_kernel=(1, 7, 7),
            conv1_stride_t=1,
            pool1_stride_t=1,
            inflate=(0, 0, 1, 1)))
    with pytest.raises(ResNetWeightsError, match=resnet50_2d):
        model.init_weights()


def test_iresnet_checkpoints_still_load(tmp_path):
    source = IResNet(depth=50)
    torch.nn.init.normal_(source.conv1.weight)
    path = tmp_path / 'i.pth'
    torch.save({'state_dict': _state_dict(source)}, path)
    model = IResNet(
        depth=50, init_cfg=dict(type='Pretrained', checkpoint=str(path)))
    model.init_weights()
    assert torch.equal(model.conv1.weight, source.conv1.weight)
    video = IResNet3d(depth=50, pretrained=str(path), pretrained2d=True)
    video.init_weights()
    assert not video.inflation_report.missing
    # a ResNet-layout member of the family takes a ResNet's weights
    from mmdet.models import ResNet
    resnet = ResNet(depth=50)
    path = tmp_path / 'r.pth'
    torch.save(_state_dict(resnet), path)
    same = IResNet(
        depth=50,
        ordering='original',
        projection='conv',
        stem_pool=True,
        init_cfg=dict(type='Pretrained', checkpoint=str(path)))
    same.init_weights()
    assert torch.equal(same.layer4[2].conv3.weight,
                       resnet.layer4[2].conv3.weight)


def test_allow_partial_load(resnet50_2d):
    resnet = torch.load(resnet50_2d)
    model = IResNet(
        depth=50,
        allow_partial_load=True,
        init_cfg=dict(type='Pretrained', checkpoint=resnet50_2d))
    model.init_weights()
    assert torch.equal(model.conv1.weight, resnet['conv1.weight'])
    video = IResNet3d(
        depth=50, pretrained=resnet50_2d, allow_partial_load=True)
    video.init_weights()
    assert video.inflation_report.missing  # what a ResNet lacks
    torch.testing.assert_close(
        video.conv1.weight[:, :, 0] * video.conv1.weight.shape[2],
        resnet['conv1.weight'])
