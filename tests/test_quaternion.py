import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from imu_valgus import quaternion as Q

finite = st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False)
quats = arrays(float, (8, 4), elements=finite).filter(
    lambda a: np.all(np.linalg.norm(a, axis=1) > 1e-3)).map(Q.normalize)
vecs = arrays(float, (8, 3), elements=finite)


def test_rotation_about_z_by_90_deg_turns_east_into_north():
    q = Q.from_axis_angle([0, 0, 1], np.pi / 2)
    np.testing.assert_allclose(Q.rotate(q, [1.0, 0, 0]), [0, 1, 0], atol=1e-12)


def test_composition_order_q_a_b_times_q_b_c_is_q_a_c():
    q_a_b = Q.from_axis_angle([0, 0, 1], np.pi / 2)   # b → a: about z
    q_b_c = Q.from_axis_angle([1, 0, 0], np.pi / 2)   # c → b: about x
    v_c = np.array([0.0, 1.0, 0.0])
    np.testing.assert_allclose(Q.rotate(Q.mul(q_a_b, q_b_c), v_c),
                               Q.rotate(q_a_b, Q.rotate(q_b_c, v_c)), atol=1e-12)
    np.testing.assert_allclose(Q.rotate(Q.mul(q_a_b, q_b_c), v_c), [0, 0, 1], atol=1e-12)


@settings(max_examples=50, deadline=None)
@given(quats, vecs)
def test_matrix_and_quaternion_rotate_alike(q, v):
    r = Q.to_matrix(q)
    np.testing.assert_allclose(Q.rotate(q, v), np.einsum("nij,nj->ni", r, v), atol=1e-9)
    np.testing.assert_allclose(Q.to_matrix(Q.from_matrix(r)), r, atol=1e-9)


@settings(max_examples=50, deadline=None)
@given(quats)
def test_rotvec_round_trip_and_unit_norm(q):
    q2 = Q.from_rotvec(Q.to_rotvec(q))
    np.testing.assert_allclose(np.linalg.norm(q2, axis=1), 1.0, atol=1e-12)
    assert np.all(np.degrees(Q.angle_between(q, q2)) < 1e-6)


def test_make_continuous_removes_sign_flips():
    q = Q.from_axis_angle([0, 0, 1], np.linspace(0, 6, 50))
    q[1::2] *= -1
    c = Q.make_continuous(q)
    assert np.all(np.sum(c[1:] * c[:-1], axis=1) > 0)


def test_small_blocks_give_the_same_numbers_as_long_arrays():
    """mul and to_matrix take another code path for a few samples (quaternion._SMALL):
    the same products summed in the same order, so bit for bit the same."""
    rng = np.random.default_rng(0)
    p, q = rng.normal(size=(500, 4)), rng.normal(size=(500, 4))
    c = rng.normal(size=4)
    for long, blocks in (
            (Q.mul(p, q), [Q.mul(p[i:i + 4], q[i:i + 4]) for i in range(0, 500, 4)]),
            (Q.mul(p, c), [Q.mul(p[i:i + 4], c) for i in range(0, 500, 4)]),
            (Q.mul(c, q), [Q.mul(c, q[i:i + 4]) for i in range(0, 500, 4)]),
            (Q.to_matrix(p), [Q.to_matrix(p[i:i + 4]) for i in range(0, 500, 4)])):
        assert np.array_equal(long, np.concatenate(blocks))
    assert np.array_equal(Q.to_matrix(p[0]), Q.to_matrix(p)[0])
    assert Q.mul(np.empty((0, 4)), c).shape == (0, 4)
    assert Q.to_matrix(np.empty((0, 4))).shape == (0, 3, 3)
