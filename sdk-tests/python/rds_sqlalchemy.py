"""SQLAlchemy 2 (core and ORM, over psycopg 3) against a PostgreSQL DB instance's SQL endpoint:
the squall at argv[1], the instance on port argv[2]. create_all/drop_all (which introspect
pg_catalog), ORM inserts with RETURNING (SQLAlchemy's insertmanyvalues), relationships and
joins, updates, deletes, a rolled-back session, and core text() with bound parameters.

Run by sdk-tests/tests/boto3.rs; exits non-zero on the first wrong answer.
"""
import sys

import boto3
from botocore.config import Config
from sqlalchemy import ForeignKey, Numeric, String, create_engine, func, inspect, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, relationship

endpoint, port = sys.argv[1], int(sys.argv[2])
rds = boto3.client(
    "rds", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="test",
    aws_secret_access_key="test", config=Config(retries={"max_attempts": 1}),
)
rds.create_db_instance(
    DBInstanceIdentifier="library", Engine="postgres", DBInstanceClass="db.t3.micro", AllocatedStorage=20,
    MasterUsername="librarian", MasterUserPassword="shh-quiet", DBName="books", Port=port,
)
rds.get_waiter("db_instance_available").wait(DBInstanceIdentifier="library", WaiterConfig={"Delay": 1, "MaxAttempts": 60})
engine = create_engine(f"postgresql+psycopg://librarian:shh-quiet@127.0.0.1:{port}/books", pool_pre_ping=True)


class Base(DeclarativeBase):
    pass


class Author(Base):
    __tablename__ = "authors"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50), unique=True)
    books: Mapped[list["Book"]] = relationship(back_populates="author", cascade="all, delete-orphan")


class Book(Base):
    __tablename__ = "books"
    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str]
    price: Mapped[float] = mapped_column(Numeric(8, 2))
    author_id: Mapped[int] = mapped_column(ForeignKey("authors.id"))
    author: Mapped[Author] = relationship(back_populates="books")


# The endpoint takes connections once the control plane's watch has opened it.
for _ in range(100):
    try:
        with engine.connect() as c:
            c.execute(text("select 1"))
        break
    except Exception:
        import time

        time.sleep(0.1)
Base.metadata.drop_all(engine)
Base.metadata.create_all(engine)
assert set(inspect(engine).get_table_names()) >= {"authors", "books"}, inspect(engine).get_table_names()
Base.metadata.create_all(engine)  # has_table sees them: nothing to do

with Session(engine) as s:
    le_guin = Author(name="Le Guin", books=[Book(title="The Dispossessed", price=9.5), Book(title="Earthsea", price=7)])
    butler = Author(name="Butler", books=[Book(title="Kindred", price=8.25)])
    s.add_all([le_guin, butler])
    s.commit()
    assert le_guin.id and all(b.id for b in le_guin.books), le_guin.books
    assert len({b.id for b in le_guin.books + butler.books}) == 3

with Session(engine) as s:
    rows = s.execute(select(Book.title, Author.name).join(Author).order_by(Book.title)).all()
    assert rows == [("Earthsea", "Le Guin"), ("Kindred", "Butler"), ("The Dispossessed", "Le Guin")], rows
    assert s.scalar(select(func.count()).select_from(Book)) == 3
    earthsea = s.scalars(select(Book).where(Book.title.ilike("%EARTH%"))).one()
    earthsea.price = 8
    s.commit()
    assert float(s.scalar(select(Book.price).where(Book.title == "Earthsea"))) == 8.0

# A failing unit of work rolls back as a whole.
with Session(engine) as s:
    s.add(Book(title="Parable of the Sower", price=10, author_id=s.scalar(select(Author.id).where(Author.name == "Butler"))))
    s.add(Author(name="Le Guin"))  # duplicate
    try:
        s.commit()
        raise AssertionError("a duplicate author was committed")
    except IntegrityError as e:
        assert e.orig.sqlstate == "23505", e.orig.sqlstate
        s.rollback()
    assert s.scalar(select(func.count()).select_from(Book)) == 3

with Session(engine) as s:
    s.delete(s.scalars(select(Author).where(Author.name == "Le Guin")).one())
    s.commit()
    assert s.scalars(select(Book.title)).all() == ["Kindred"]

with engine.begin() as c:
    assert c.execute(text("select :x + 1"), {"x": 41}).scalar() == 42
    assert c.execute(text("select count(*) from books where price > :p"), {"p": 5}).scalar() == 1
print("sqlalchemy: ok")
